"""Review → what people and machines read: markdown, reply mails, text,
JSON and SARIF 2.1.0 (templates in templates/)."""

from kvmplan.report.render import (
    FORMATS, RENDERERS, render_emails, render_json, render_markdown, render_sarif, render_text,
)

__all__ = ["FORMATS", "RENDERERS", "render_emails", "render_json", "render_markdown",
           "render_sarif", "render_text"]
