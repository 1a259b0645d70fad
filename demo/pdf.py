"""A real, valid PDF of ``n`` pages (stdlib only): what the demo platform's document
generation hands back, so a journey can check the content type and the size of a
generated bid (a 100-page document is about 210 KiB)."""

from __future__ import annotations

LINES_PER_PAGE = 12


def _page_text(page: int, pages: int) -> bytes:
    """One page's content stream: a heading and body lines of plain ASCII (Helvetica's
    encoding needs no embedded font)."""
    ops = [f"BT /F1 16 Tf 56 790 Td (Bid document - page {page} of {pages}) Tj ET"]
    for line in range(LINES_PER_PAGE):
        text = (f"{page}.{line + 1:02d} The bidder commits to the technical requirements of "
                f"section {line + 1}, with schedule, staffing and quality plan as tendered.")
        ops.append(f"BT /F1 10 Tf 56 {760 - line * 19} Td ({text}) Tj ET")
    return "\n".join(ops).encode("ascii")


def build_pdf(pages: int, title: str = "Demo bid document") -> bytes:
    """Catalog, page tree, one font, then a page object and its content stream per page,
    with an exact cross-reference table (byte offsets), so any reader opens it."""
    if pages < 1:
        raise ValueError("pages: at least 1")
    first_page = 4  # objects 1–3: catalog, page tree, font
    kids = " ".join(f"{first_page + 2 * i} 0 R" for i in range(pages))
    objects: list[bytes] = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        f"<< /Type /Pages /Kids [{kids}] /Count {pages} >>".encode(),
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    for i in range(pages):
        stream = _page_text(i + 1, pages)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] "
                       f"/Resources << /Font << /F1 3 0 R >> >> "
                       f"/Contents {first_page + 2 * i + 1} 0 R >>".encode())
        objects.append(f"<< /Length {len(stream)} >>\nstream\n".encode() + stream
                       + b"\nendstream")
    info = len(objects) + 1
    objects.append(f"<< /Title ({title}) /Producer (slaguard demo) >>".encode())
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for n, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{n} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{o:010d} 00000 n \n".encode() for o in offsets)
    out += (f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {info} 0 R >>\n"
            f"startxref\n{xref}\n%%EOF\n").encode()
    return bytes(out)
