"""Reports for funders: service projects, the indicator registry, reports, exports, submitted
periods and the monthly record book."""
