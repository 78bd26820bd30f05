# STAND-IN: replaced at merge (the lead's package)
"""Reports for funders."""
