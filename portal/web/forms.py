"""Forms both the creditor's and the agency's pages use."""

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
