"""``taskq auth ...``: mint JWTs and manage API keys.

Runs on its own (``python -m api.cli ...``) or as the ``auth`` group of the
``taskq`` command, which finds it through the ``taskq.commands`` entry point
(pyproject.toml): the engine never imports api/.
"""

from __future__ import annotations

import json
import os

import click

from taskq.keys import DEFAULT_PREFIX

from . import auth
from taskq.keys import ApiKeys


def known_scopes() -> tuple[str, ...]:
    """Every scope a credential may carry: the shared ones and those of the
    dialects the app serves (api.dialects.DIALECTS), with their wildcards.
    Imported when asked, so ``taskq --help`` loads no dialect."""
    from .dialects import DIALECTS

    return auth.known_scopes(s for d in DIALECTS for s in d.scopes)


class _ScopeOption(click.Option):
    """--scope, whose help lists the known scopes (read when help is shown)."""

    def get_help_record(self, ctx):
        self.help = f"Scope to grant (repeat): {', '.join(known_scopes())}."
        return super().get_help_record(ctx)


_scopes = click.option("--scope", "-s", "scopes", multiple=True, required=True, cls=_ScopeOption,
                       help="Scope to grant (repeat).")
_url = click.option("--url", envvar="REDIS_URL", default=None, metavar="URL",
                    help="Redis URL [env: REDIS_URL; default: the one in .taskq/redis.url while "
                         "taskq start runs, else redis://127.0.0.1:6379/0].")
_prefix = click.option("--prefix", envvar="TASKQ_PREFIX", default=DEFAULT_PREFIX, show_default=True,
                       help="Key prefix [env: TASKQ_PREFIX].")


def _redis(url: str | None, prefix: str):
    """The Redis named by --url / REDIS_URL, else the one a running ``taskq
    start`` uses (.taskq/redis.url), else the default, said on stderr; once
    it has loaded its data set and holds ``prefix``'s data in this release's
    key schema (one line and exit 1 otherwise)."""
    from taskq.cli import ready_client

    return ready_client(url, prefix)[1]


def _rate(ctx, param, value: str | None) -> str | None:
    """--rate-limit: refused here (usage error, exit 2) unless the API can read it."""
    try:
        return auth.check_rate_limit(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def _projects(ctx, param, value) -> list[str]:
    try:
        return auth.check_projects(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


_rate_limit = click.option("--rate-limit", default=None, metavar="N/WINDOW", callback=_rate,
                           help="Own rate limit: N/second|minute|hour|day or N/<seconds>, "
                                "e.g. 1000/hour.")
_agents = click.option("--agent", "agents", multiple=True, metavar="NAME",
                       help="Only act (and log in) as this TaskDriver agent (repeat); default any.")
_projects_opt = click.option("--project", "projects", multiple=True, metavar="ID", callback=_projects,
                             help="Only act (and log in) in this TaskDriver project (repeat); "
                                  "default any.")


def _checked(scopes) -> list[str]:
    try:
        return auth.check_scopes(scopes, known_scopes())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--scope") from None


@click.group(name="auth", context_settings={"help_option_names": ["-h", "--help"]})
def cli() -> None:
    """Credentials for the HTTP API: JWTs and API keys."""


@cli.command()
@click.option("--sub", required=True, help="Who the token is for (its 'sub' claim).")
@_scopes
@click.option("--ttl", default=3600, show_default=True, type=int, help="Seconds until it expires.")
@_rate_limit
@_agents
@_projects_opt
def token(sub: str, scopes, ttl: int, rate_limit: str | None, agents, projects) -> None:
    """Print a JWT signed with TASKQ_JWT_SECRET (default: the secret taskq
    start keeps in .taskq/jwt.secret)."""
    from taskq.local.state_files import resolve_jwt_secret

    secret, note = resolve_jwt_secret(os.environ.get("TASKQ_JWT_SECRET"))
    if not secret:
        raise click.ClickException(note)
    if note:
        click.echo(note, err=True)
    click.echo(auth.mint_token(secret, sub, _checked(scopes), ttl, rate_limit, agents, projects))


@cli.group()
def apikey() -> None:
    """Create, list and revoke API keys (stored hashed in Redis)."""


@apikey.command("create")
@click.option("--name", required=True, help="What the key is for.")
@_scopes
@_rate_limit
@_agents
@_projects_opt
@_url
@_prefix
def apikey_create(name: str, scopes, rate_limit: str | None, agents, projects,
                  url: str | None, prefix: str) -> None:
    """Create a key and print it (shown only this once)."""
    key, rec = auth.create_api_key(_redis(url, prefix), ApiKeys(prefix), name, _checked(scopes),
                                   rate_limit, agents, projects)
    click.echo(key)
    limits = "".join(f", {k} {' '.join(rec[k])}" for k in ("agents", "projects") if rec.get(k))
    click.echo(f"id {rec['id']}, scopes {' '.join(rec['scopes'])}{limits}", err=True)


@apikey.command("list")
@_url
@_prefix
def apikey_list(url: str | None, prefix: str) -> None:
    """List keys (id, name, scopes; never the keys themselves)."""
    for rec in auth.list_api_keys(_redis(url, prefix), ApiKeys(prefix)):
        click.echo(json.dumps(rec))


@apikey.command("revoke")
@click.argument("key_id")
@_url
@_prefix
def apikey_revoke(key_id: str, url: str | None, prefix: str) -> None:
    """Revoke the key with this id."""
    if not auth.revoke_api_key(_redis(url, prefix), ApiKeys(prefix), key_id):
        raise click.ClickException(f"no API key with id {key_id}")
    click.echo(f"revoked {key_id}")


if __name__ == "__main__":
    cli()
