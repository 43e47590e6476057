"""Real PDFs with text, for the search and upload tests."""

from __future__ import annotations

from fpdf import FPDF


def pdf_with_text(*lines: str, encrypt: bool = False) -> bytes:
    pdf = FPDF()
    pdf.add_page()
    pdf.set_font("helvetica", size=12)
    for line in lines:
        pdf.multi_cell(0, 8, line, new_x="LMARGIN", new_y="NEXT")
    if encrypt:
        pdf.set_encryption(owner_password="owner", user_password="user")
    return bytes(pdf.output())
