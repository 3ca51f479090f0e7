"""Reading pages the way a browser does: the links they offer and the forms they submit.

``crawl`` follows a role's links from its start pages and collects every ``<form>``
(its action, method, fields with their page defaults, the buttons that submit it);
``Form.submission`` builds what a browser would send, with one field's value replaced.
Only the standard library's ``html.parser`` is used.
"""

from __future__ import annotations

import io
import re
from collections import deque
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

from flask.testing import FlaskClient

# Checkbox values WTForms' BooleanField renders: the box is ticked or not, the value is not read.
BOOLEAN_VALUES = frozenset({"y", "on", "1", "true"})
# Inputs a browser never submits.
UNSENT_KINDS = frozenset({"reset", "button", "image"})


@dataclass(frozen=True)
class Upload:
    """A file to send in a file input."""

    content: bytes
    filename: str


@dataclass(frozen=True)
class FormField:
    """One named control of a form (a radio group or a group of checkboxes is one field)."""

    name: str
    kind: str  # the input's type, or "select", "textarea", "submit"
    values: tuple[str, ...]  # what the browser sends when nothing is changed (may be none)
    options: tuple[str, ...] = ()  # the values offered: a select's, a group's, the buttons'
    required: bool = False
    multiple: bool = False
    inputmode: str = ""  # "decimal", "numeric": a number typed in a text box
    accept: str = ""  # the files a file input offers to choose

    @property
    def is_choice(self) -> bool:
        """A value picked from the page rather than typed (a ticked box's ``y`` is not a pick)."""
        if self.kind in {"select", "radio"}:
            return True
        if self.kind == "submit":  # buttons with one value are a flag: which was pressed
            return len(set(self.options)) > 1
        return self.kind == "checkbox" and not set(self.options) <= BOOLEAN_VALUES


@dataclass(frozen=True)
class Form:
    page: str  # where it was found
    method: str  # "GET" or "POST"
    action: str  # a path, with its query
    multipart: bool
    fields: tuple[FormField, ...]
    htmx: bool = False  # posted by htmx (``hx-post``), which says so in a header

    def field(self, name: str) -> FormField:
        return next(found for found in self.fields if found.name == name)

    def submission(self, values: dict[str, str | Upload | None]) -> list[tuple[str, object]]:
        """The (name, value) pairs a browser sends: page defaults, with ``values`` replacing
        whole fields (None: the field is not sent). A file input left empty is sent as an
        empty part without a file name, as browsers send it."""
        pairs: list[tuple[str, object]] = []
        for control in self.fields:
            if control.name in values:
                value = values[control.name]
                if isinstance(value, Upload):
                    pairs.append((control.name, (io.BytesIO(value.content), value.filename)))
                elif value is not None:
                    pairs.append((control.name, value))
            elif control.kind == "file":
                if self.multipart:
                    pairs.append((control.name, (io.BytesIO(b""), "")))
            else:
                pairs.extend((control.name, value) for value in control.values)
        return pairs


@dataclass
class _FormBuilder:
    page: str
    method: str
    action: str
    multipart: bool
    hx_post: str | None
    form_id: str | None
    controls: list[dict] = field(default_factory=list)
    submitters: list[dict] = field(default_factory=list)

    def forms(self) -> list[Form]:
        """One form per distinct target: its action, a button's ``formaction``, its ``hx-post``."""
        fields = _merge(self.controls)
        targets: dict[str, list[dict]] = {self.action: []}
        for button in self.submitters:
            targets.setdefault(button.get("formaction") or self.action, []).append(button)
        found = [
            Form(self.page, self.method, action, self.multipart, (*fields, *_buttons(buttons)))
            for action, buttons in targets.items()
        ]
        if self.hx_post:
            found.append(
                Form(self.page, "POST", self.hx_post, self.multipart, tuple(fields), htmx=True)
            )
        return found


def _merge(controls: list[dict]) -> list[FormField]:
    """Controls sharing a name become one field (radio groups, checkbox groups)."""
    by_name: dict[str, FormField] = {}
    for control in controls:
        known = by_name.get(control["name"])
        current = FormField(
            control["name"],
            control["kind"],
            tuple(control["values"]),
            tuple(control["options"]),
            control["required"],
            control["multiple"],
            control.get("inputmode", ""),
            control.get("accept", ""),
        )
        if known is not None:
            current = replace(
                known,
                values=known.values + current.values,
                options=known.options + current.options,
                required=known.required or current.required,
            )
        by_name[control["name"]] = current
    return list(by_name.values())


def _buttons(buttons: list[dict]) -> list[FormField]:
    """The named buttons: the first one submits (as the Enter key does); the others are
    the field's options."""
    named: dict[str, list[str]] = {}
    for button in buttons:
        if button.get("name"):
            named.setdefault(button["name"], []).append(button.get("value", ""))
    first_name = next((b["name"] for b in buttons if b.get("name")), None)
    return [
        FormField(name, "submit", (values[0],) if name == first_name else (), tuple(values))
        for name, values in named.items()
    ]


class PageParser(HTMLParser):
    """The links and forms of one HTML page."""

    def __init__(self, page: str) -> None:
        super().__init__(convert_charrefs=True)
        self.page = page
        self.links: list[str] = []
        self.builders: list[_FormBuilder] = []
        self._open: _FormBuilder | None = None
        self._pending: list[tuple[str | None, dict]] = []  # controls naming a form by id
        self._select: dict | None = None
        self._option: dict | None = None
        self._textarea: dict | None = None

    def forms(self) -> list[Form]:
        by_id = {builder.form_id: builder for builder in self.builders if builder.form_id}
        for form_id, control in self._pending:
            if form_id in by_id:
                by_id[form_id].controls.append(control)
        return [form for builder in self.builders for form in builder.forms()]

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = {name: value or "" for name, value in attrs}
        handler = getattr(self, f"_start_{tag}", None)
        if handler is not None:
            handler(attributes)
        if "hx-get" in attributes:
            self.links.append(self._absolute(attributes["hx-get"]))

    def handle_endtag(self, tag: str) -> None:
        if tag == "form" and self._open is not None:
            self.builders.append(self._open)
            self._open = None
        elif tag == "select" and self._select is not None:
            self._end_select()
        elif tag == "option":
            self._end_option()
        elif tag == "textarea" and self._textarea is not None:
            textarea, self._textarea = self._textarea, None
            # A browser drops the line break that opens a textarea's content.
            textarea["values"] = [re.sub(r"^\r?\n", "", textarea["values"][0])]
            self._add(textarea, textarea.pop("form"))

    def handle_data(self, data: str) -> None:
        if self._option is not None:
            self._option["text"] += data
        elif self._textarea is not None:
            self._textarea["values"][0] += data

    def _absolute(self, url: str) -> str:
        return urljoin(self.page, url)

    def _local(self, url: str) -> str:
        """A form's target, as a path on this site (a form never posts elsewhere here)."""
        target = local_path(self._absolute(url))
        assert target is not None, f"{self.page}: a form posts off the site, to {url}"
        return target

    def _start_a(self, attributes: dict[str, str]) -> None:
        if "href" in attributes:
            self.links.append(self._absolute(attributes["href"]))

    def _start_form(self, attributes: dict[str, str]) -> None:
        if self._open is not None:  # a form inside a form: HTML ignores the inner tag
            return
        hx_post = attributes.get("hx-post")
        self._open = _FormBuilder(
            page=self.page,
            method=attributes.get("method", "get").upper(),
            action=self._local(attributes.get("action") or self.page),
            multipart=attributes.get("enctype") == "multipart/form-data",
            hx_post=self._local(hx_post) if hx_post else None,
            form_id=attributes.get("id"),
        )

    def _start_input(self, attributes: dict[str, str]) -> None:
        kind = attributes.get("type", "text").lower()
        name = attributes.get("name")
        if not name or kind in UNSENT_KINDS:
            return
        if kind == "submit":
            self._add_submitter(attributes)
            return
        value = attributes.get("value", "on" if kind in {"checkbox", "radio"} else "")
        checkable = kind in {"checkbox", "radio"}
        sent = (not checkable or "checked" in attributes) and kind != "file"
        control = {
            "name": name,
            "kind": kind,
            "values": [value] if sent else [],
            "options": [value] if checkable else [],
            "required": "required" in attributes,
            "multiple": False,
            "inputmode": attributes.get("inputmode", ""),
            "accept": attributes.get("accept", ""),
        }
        self._add(control, attributes.get("form"))

    def _start_button(self, attributes: dict[str, str]) -> None:
        if attributes.get("type", "submit").lower() == "submit":
            self._add_submitter(attributes)

    def _start_select(self, attributes: dict[str, str]) -> None:
        self._select = {
            "name": attributes.get("name", ""),
            "kind": "select",
            "values": [],
            "options": [],
            "required": "required" in attributes,
            "multiple": "multiple" in attributes,
            "form": attributes.get("form"),
            "first": None,
        }

    def _start_option(self, attributes: dict[str, str]) -> None:
        self._end_option()
        if self._select is not None:
            self._option = {
                "value": attributes.get("value"),
                "selected": "selected" in attributes,
                "text": "",
            }

    def _start_textarea(self, attributes: dict[str, str]) -> None:
        self._textarea = {
            "name": attributes.get("name", ""),
            "kind": "textarea",
            "values": [""],
            "options": [],
            "required": "required" in attributes,
            "multiple": False,
            "form": attributes.get("form"),
        }

    def _end_option(self) -> None:
        if self._option is None or self._select is None:
            return
        option, self._option = self._option, None
        value = option["value"] if option["value"] is not None else option["text"].strip()
        self._select["options"].append(value)
        if self._select["first"] is None:
            self._select["first"] = value
        if option["selected"]:
            self._select["values"].append(value)

    def _end_select(self) -> None:
        self._end_option()
        select, self._select = self._select, None
        assert select is not None
        first = select.pop("first")
        if not select["values"] and not select["multiple"] and first is not None:
            select["values"] = [first]  # a single select with nothing selected sends its first
        if select["name"]:
            self._add(select, select.pop("form"))

    def _add_submitter(self, attributes: dict[str, str]) -> None:
        button = {key: attributes[key] for key in ("name", "value") if key in attributes}
        if "formaction" in attributes:
            button["formaction"] = self._local(attributes["formaction"])
        if self._open is not None:
            self._open.submitters.append(button)

    def _add(self, control: dict, form_id: str | None) -> None:
        control.pop("form", None)
        if not control["name"]:
            return
        if form_id:
            self._pending.append((form_id, control))
        elif self._open is not None:
            self._open.controls.append(control)


@dataclass
class Crawl:
    pages: list[str] = field(default_factory=list)
    forms: list[Form] = field(default_factory=list)
    # A GET that failed, with its status: a crawl that meets one is reported, not ignored.
    failures: list[tuple[str, int]] = field(default_factory=list)


def local_path(url: str) -> str | None:
    """The path and query of a link into this site (None for another site, mailto:, ...)."""
    parts = urlsplit(url)
    if parts.scheme not in {"", "http"} or parts.netloc not in {"", "localhost"}:
        return None
    return parts.path + (f"?{parts.query}" if parts.query else "")


def crawl(
    client: FlaskClient,
    start: Iterable[str],
    *,
    follow: Callable[[str], bool],
    limit: int,
) -> Crawl:
    """Visit pages breadth first from ``start``, following links ``follow`` accepts, at most
    ``limit`` pages; a path is visited once whatever its query string (filters and
    sorting show the same forms)."""
    found = Crawl()
    queue = deque(start)
    seen_paths: set[str] = set()
    while queue and len(found.pages) < limit:
        url = queue.popleft()
        path = urlsplit(url).path
        if path in seen_paths:
            continue
        seen_paths.add(path)
        response = client.get(url)
        if response.status_code >= 400:
            found.failures.append((url, response.status_code))
            continue
        if response.status_code != 200 or response.mimetype != "text/html":
            continue
        found.pages.append(url)
        parser = PageParser(f"http://localhost{url}")
        parser.feed(response.get_data(as_text=True))
        parser.close()
        found.forms.extend(parser.forms())
        for link in parser.links:
            target = local_path(link)
            if target is not None and follow(target):
                queue.append(target)
    return found
