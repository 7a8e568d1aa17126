"""The paper copy of a certificate (the regulation's section 8.3): what it says
(sheet.py) and the PDF drawn from it (pdf.py)."""
