"""Forms both the creditor's and the agency's pages use, and the check every request's
fields pass before any form reads them."""

from itertools import chain

from flask import abort, request
from flask_wtf import FlaskForm
from wtforms import BooleanField, StringField, TextAreaField
from wtforms.validators import InputRequired, Length, Regexp


class MessageForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField("Message", validators=[InputRequired(), Length(max=5000)])
    requests_information = BooleanField("Ask the creditor for information or evidence")


class FirstCodeForm(FlaskForm):  # type: ignore[misc]
    """The first code the authenticator app shows: it confirms the app has the secret."""

    code = StringField(
        "Code from the app",
        validators=[
            InputRequired(message="Type the code the app shows."),
            Regexp(r"^\s*\d{3}\s?\d{3}\s*$", message="The code has 6 digits."),
        ],
    )


# Their views read the raw body (to sign or replay it), which parsing it as a form uses up;
# they check their own fields.
RAW_BODY_BLUEPRINTS = frozenset({"api", "webhooks"})


def refuse_nul_bytes() -> None:
    """Refuse (400) a request with a NUL byte in its query, its fields or a file's name.

    No keyboard types one, and PostgreSQL cannot store one in text: left to the forms,
    each would fail on it with a server error.
    """
    texts = chain.from_iterable(request.args.items(multi=True))
    if request.blueprint not in RAW_BODY_BLUEPRINTS:
        texts = chain(
            texts,
            chain.from_iterable(request.form.items(multi=True)),
            (upload.filename or "" for _name, upload in request.files.items(multi=True)),
        )
    if any("\x00" in text for text in texts):
        abort(400)
