"""The reading corner's library (图书借阅): the catalogue (`books`), importing a sheet
(`importer`), lending and holds (`circulation`, never a copy lent twice), and the staff's desk
(`desk`)."""
