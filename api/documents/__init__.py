"""The document formats Linli writes and reads: XLSX (`xlsx`, with openpyxl), CSV (`csvfile`) and
PDF (`pdf`, with ReportLab). Pure functions, bytes in and out: no database, no clock, no request;
the services gather the rows and texts and call them."""
