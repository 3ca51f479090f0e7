"""Letter and e-mail texts from Jinja2 templates run in a sandbox; letters to PDF (WeasyPrint).

Tenant admins will edit letter texts, so every template, the agency's own included, is
rendered by a ``SandboxedEnvironment``: a template can read the values it is given and
nothing behind them (no ``__class__``, no ``mro``, no function internals). Undefined
names are errors, not blanks, so a misspelt placeholder is found when a template is
saved rather than in a debtor's letter.

The PDF layout (``templates/letters/letter.html`` and ``letter.css``) is the agency's;
WeasyPrint may read files from that folder and nothing else, never the network.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from jinja2 import FileSystemLoader, StrictUndefined, Template, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from portal.config import PROJECT_ROOT

LETTERS_FOLDER = PROJECT_ROOT / "templates" / "letters"
MAX_COMPILED = 512


class TemplateProblem(ValueError):
    """A template that cannot be rendered; the message says why, for the person editing it."""


class JinjaLetterRenderer:
    def __init__(self, folder: Path = LETTERS_FOLDER) -> None:
        self.folder = folder.resolve()
        self._text = SandboxedEnvironment(
            undefined=StrictUndefined, autoescape=False, keep_trailing_newline=False
        )
        self._html = SandboxedEnvironment(
            loader=FileSystemLoader(self.folder), undefined=StrictUndefined, autoescape=True
        )
        # Compiling a template costs far more than rendering it; a run renders the same
        # few sources thousands of times. Bounded: tenants' edited texts come and go.
        self._compiled: dict[str, Template] = {}

    def default_source(self, name: str) -> str:
        path = (self.folder / name).resolve()
        if not path.is_relative_to(self.folder) or not path.is_file():
            raise FileNotFoundError(f"no letter template {name!r}")
        return path.read_text(encoding="utf-8")

    def check(self, source: str) -> None:
        """``TemplateProblem`` when ``source`` is not a valid template."""
        try:
            self._text.parse(source)
        except TemplateSyntaxError as error:
            raise TemplateProblem(f"line {error.lineno}: {error.message}") from None

    def _compile(self, source: str) -> Template:
        template = self._compiled.get(source)
        if template is None:
            template = self._text.from_string(source)
            if len(self._compiled) >= MAX_COMPILED:
                self._compiled.clear()
            self._compiled[source] = template
        return template

    def render_text(self, source: str, context: dict[str, Any]) -> str:
        try:
            return self._compile(source).render(context)
        except TemplateSyntaxError as error:
            raise TemplateProblem(f"line {error.lineno}: {error.message}") from None
        except SecurityError as error:
            raise TemplateProblem(
                f"it reaches for something letters may not use ({error})"
            ) from None
        except UndefinedError as error:
            raise TemplateProblem(f"it refers to something letters do not have ({error})") from None
        except Exception as error:
            raise TemplateProblem(f"it cannot be rendered ({error})") from None

    def render_html(self, name: str, context: dict[str, Any]) -> str:
        return self._html.get_template(name).render(context)

    def pdf(self, html: str) -> bytes:
        # Imported here: the pango libraries WeasyPrint loads are needed only for PDFs.
        from weasyprint import HTML  # type: ignore[import-untyped]  # noqa: PLC0415
        from weasyprint.urls import URLFetcher  # type: ignore[import-untyped]  # noqa: PLC0415

        class NoFetching(URLFetcher):  # type: ignore[misc]
            """The layout is self-contained: a letter loads nothing, files or network."""

            def fetch(self, url: str, headers: Any = None) -> Any:
                raise ValueError(f"letters load nothing from {url}")

        document = HTML(string=html, base_url=self.folder.as_uri() + "/", url_fetcher=NoFetching())
        return bytes(document.write_pdf())
