# STAND-IN: replaced at merge (the documents helper writes the real package)
"""Documents made for people: PDFs (ReportLab)."""
