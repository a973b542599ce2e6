"""The report's sections as format-neutral tables and notes, shared by every renderer.

Terminal, Markdown and HTML build their tables from these modules and their prose from the
``*_notes`` functions, so the three formats always show the same columns and the same
numbers; each renderer only adds its own escaping and markup. Everything here formats what
the report dict holds (docs/report-schema.md) and computes nothing.
"""
