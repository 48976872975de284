"""``taskq docs``: read the documentation site locally (MkDocs), or build it.

The site is built from the source checkout taskq runs from (``mkdocs.yml``
and ``docs/``); an installed package carries neither, so the command says
so rather than failing inside MkDocs. MkDocs comes with the ``docs``
extra (``pip install -e '.[docs]'``; the test extra includes it).
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
import sys
from pathlib import Path

import click

CHECKOUT = Path(__file__).resolve().parents[2]
"""The source checkout this taskq runs from, when it runs from one."""


def find_config() -> Path | None:
    """mkdocs.yml of the checkout taskq runs from, None without one. Only
    taskq's own: another project's config in the current folder would run
    that project's MkDocs hooks and plugins."""
    config = CHECKOUT / "mkdocs.yml"
    return config if config.is_file() and (CHECKOUT / "docs").is_dir() else None


def refuse_to_clean(site: Path) -> None:
    """MkDocs empties its site folder before it builds: only an empty folder
    or a site built before may be given."""
    if site.is_dir() and any(site.iterdir()) and not (site / "sitemap.xml").is_file():
        raise click.ClickException(f"{site} holds files that are not a built site: MkDocs would "
                                   "delete them; give an empty or new folder")


@click.command()
@click.option("--address", "-a", default="127.0.0.1:8001", show_default=True,
              help="Where to serve the site (taskq start's web process holds :8000).")
@click.option("--build", "build_dir", default=None, metavar="DIR",
              help="Build the static site into DIR (strict: a broken link fails) instead of serving it.")
def docs(address: str, build_dir: str | None) -> None:
    """Serve the documentation site, rebuilt on every save (or --build it)."""
    config = find_config()
    if config is None:
        raise click.ClickException(
            f"no mkdocs.yml with a docs/ folder in {CHECKOUT}: the site is built from a taskq "
            "source checkout")
    if importlib.util.find_spec("mkdocs") is None:
        raise click.ClickException("MkDocs is not installed: pip install -e '.[docs]' in the checkout")
    if build_dir is not None:
        site = Path(build_dir).resolve()
        refuse_to_clean(site)
        args = ["build", "--strict", "--site-dir", str(site)]
    else:
        args = ["serve", "--dev-addr", address]
        click.echo(f"taskq: docs at http://{address}/ (Ctrl-C to stop)", err=True)
    env = dict(os.environ, NO_MKDOCS_2_WARNING="1")
    done = subprocess.run([sys.executable, "-m", "mkdocs", *args, "--config-file", str(config)],
                          cwd=config.parent, env=env)
    if done.returncode != 0:
        raise click.exceptions.Exit(done.returncode)
