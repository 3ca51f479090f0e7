from flask_wtf import FlaskForm
from wtforms import EmailField, PasswordField, StringField
from wtforms.validators import DataRequired, Email, EqualTo, InputRequired, Length

from portal.services.passwords import MIN_PASSWORD_LENGTH

PASSWORD_RULE = f"At least {MIN_PASSWORD_LENGTH} characters."
MAX_PASSWORD_LENGTH = 200
MAX_EMAIL_LENGTH = 254


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("E-mail", validators=[DataRequired(), Email(), Length(max=MAX_EMAIL_LENGTH)])
    password = PasswordField(
        "Password", validators=[DataRequired(), Length(max=MAX_PASSWORD_LENGTH)]
    )


class SecondFactorForm(FlaskForm):  # type: ignore[misc]
    code = StringField(
        "Code",
        validators=[
            InputRequired(message="Type the code."),
            Length(max=32, message="That is not a code from the app nor a recovery code."),
        ],
        description="The 6 digits your authenticator app shows now, or one of your recovery codes.",
    )


class ForgotForm(FlaskForm):  # type: ignore[misc]
    email = EmailField(
        "E-mail",
        validators=[
            InputRequired(message="Give the e-mail address you sign in with."),
            Email(message="That is not an e-mail address."),
            Length(max=MAX_EMAIL_LENGTH),
        ],
    )


class NewPasswordForm(FlaskForm):  # type: ignore[misc]
    password = PasswordField(
        "New password",
        validators=[
            InputRequired(),
            Length(min=MIN_PASSWORD_LENGTH, message=PASSWORD_RULE),
            Length(max=MAX_PASSWORD_LENGTH, message=f"At most {MAX_PASSWORD_LENGTH} characters."),
        ],
        description=PASSWORD_RULE,
    )
    password_again = PasswordField(
        "The new password again",
        validators=[InputRequired(), EqualTo("password", message="The two passwords differ.")],
    )


class ChangePasswordForm(NewPasswordForm):
    current_password = PasswordField(
        "Current password",
        validators=[InputRequired(), Length(max=MAX_PASSWORD_LENGTH)],
    )
