"""Reports for funders: service projects and their targets (projects), activity summaries for the
record book (summaries), the indicator registry and the report builder."""
