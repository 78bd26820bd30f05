"""The reading corner's library (图书借阅): the catalogue (`books`), importing a sheet
(`importer`), lending (`circulation`, never a copy lent twice), holds (`holds`), the loans'
reminders (`reminders`), and the staff's desk (`desk`)."""
