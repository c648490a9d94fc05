"""`redfire token`: issue a viewer or admin JWT signed with REDFIRE_JWT_SECRET."""

from __future__ import annotations

import getpass
from typing import Annotated

import typer
from pydantic import ValidationError

from redfire.settings import Settings
from redfire.web.auth import Role, issue_token


def token(
    role: Annotated[Role, typer.Option(help="viewer: the page and read routes; admin: all.")],
    minutes: Annotated[float, typer.Option(min=0.0, help="Lifetime in minutes.")] = 30.0,
    subject: Annotated[
        str | None, typer.Option(help="Who the token is for (the 'sub' claim); default $USER.")
    ] = None,
) -> None:
    """Print a JWT (HS256, REDFIRE_JWT_SECRET) granting ROLE for MINUTES.

    Send it as 'Authorization: Bearer <token>', or open the page at /?token=<token>.
    """
    try:
        secret = Settings().jwt_secret
    except ValidationError as exc:
        raise typer.BadParameter(str(exc), param_hint="REDFIRE_JWT_SECRET") from exc
    if secret is None:
        typer.echo("error: set REDFIRE_JWT_SECRET (the workers' HS256 key) first", err=True)
        raise typer.Exit(1)
    if minutes <= 0:
        raise typer.BadParameter("must be more than 0", param_hint="--minutes")
    typer.echo(issue_token(secret, role, minutes, subject or getpass.getuser()))


def register(app: typer.Typer) -> None:
    """Add the ``token`` command to the ``redfire`` CLI."""
    app.command("token")(token)
