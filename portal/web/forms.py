"""Forms both the creditor's and the agency's pages use."""

from flask_wtf import FlaskForm
from wtforms import BooleanField, TextAreaField
from wtforms.validators import InputRequired, Length


class MessageForm(FlaskForm):  # type: ignore[misc]
    body = TextAreaField("Message", validators=[InputRequired(), Length(max=5000)])
    requests_information = BooleanField("Ask the creditor for information or evidence")
