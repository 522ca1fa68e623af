"""Optuna storages by URL: opened with heartbeats, shown without their password.

A storage URL may hold a PostgreSQL password. It is never printed or written as given:
:func:`masked_url` replaces the password with ``***`` wherever a URL is shown (messages,
``manifest.json``, ``--json`` output), and :func:`scrub` takes it out of a driver's error text.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path
from urllib.parse import quote

import optuna
from sqlalchemy import create_engine, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, SQLAlchemyError

from dse.errors import DseError

HEARTBEAT_SECONDS = 10
# The package that provides each SQLAlchemy driver a storage URL can name.
DRIVER_PACKAGES = {"psycopg": "psycopg[binary]", "psycopg2": "psycopg2-binary",
                   "pg8000": "pg8000", "asyncpg": "asyncpg", "pymysql": "pymysql",
                   "mysqldb": "mysqlclient", "mysqlconnector": "mysql-connector-python"}
_PASSWORD = re.compile(r"(://[^:/@\s]*:)([^@\s]*)(@)")


def masked_url(url: str) -> str:
    """``url`` with its password replaced by ``***``; unchanged if it has none."""
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):
        return _PASSWORD.sub(r"\1***\3", url)
    return parsed.render_as_string(hide_password=True) if parsed.password else url


def scrub(text: str, url: str) -> str:
    """``text`` (an error message) without the password of ``url``, raw or URL-encoded."""
    try:
        password = make_url(url).password
    except (ArgumentError, ValueError):
        match = _PASSWORD.search(url)
        password = match.group(2) if match else None
    for form in {str(password), quote(str(password), safe="")} if password else ():
        text = text.replace(form, "***")
    return text.replace(url, masked_url(url))


def open_storage(url: str, *, create: bool = True) -> optuna.storages.RDBStorage:
    """An RDB storage with heartbeats, so trials of a killed process are failed later.

    With ``create=False`` (commands that only read a study) nothing is created: a SQLite
    file must exist, and no tables are added to a database that lacks them.
    """
    _check_driver(url)
    if not create:
        _check_holds_studies(url)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        try:
            return optuna.storages.RDBStorage(url, heartbeat_interval=HEARTBEAT_SECONDS,
                                              grace_period=3 * HEARTBEAT_SECONDS,
                                              skip_table_creation=not create)
        except Exception as exc:  # a bad URL or an unreachable server: say which, briefly
            reason = scrub(str(exc).strip().splitlines()[0] if str(exc).strip() else
                           type(exc).__name__, url)
            raise DseError(f"Cannot open storage {masked_url(url)!r}: {reason}") from None


def _check_driver(url: str) -> None:
    """A missing database driver is one line naming the package to install."""
    try:
        dialect = make_url(url).get_dialect()
    except (ArgumentError, ValueError):
        raise DseError(f"Storage {masked_url(url)!r} is not a database URL; use e.g. "
                       f"sqlite:///runs/study.db or postgresql://user@host/db.") from None
    except Exception:  # noqa: BLE001 - an unknown dialect: RDBStorage says which below
        return
    driver = getattr(dialect, "driver", "")
    try:
        dialect.import_dbapi()
    except ImportError:
        package = DRIVER_PACKAGES.get(driver, driver)
        extra = ' (or pip install "dse[postgres]")' if driver in ("psycopg", "psycopg2") else ""
        raise DseError(f"Storage {masked_url(url)!r} needs the {driver} database driver: "
                       f"pip install \"{package}\"{extra}.") from None


def _check_holds_studies(url: str) -> None:
    """For commands that only read: the SQLite file exists and the database has optuna's
    tables (looked up without creating anything)."""
    parsed = make_url(url)
    on_disk = parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:")
    if on_disk and not Path(str(parsed.database)).is_file():
        raise DseError(f"Storage {masked_url(url)!r}: no such file {parsed.database}. Check "
                       f"the path (this command reads a study; it never creates one).")
    engine = create_engine(url)
    try:
        tables = inspect(engine).get_table_names()
    except SQLAlchemyError as exc:
        reason = scrub(str(exc).strip().splitlines()[0], url)
        raise DseError(f"Cannot open storage {masked_url(url)!r}: {reason}") from None
    finally:
        engine.dispose()
    if "studies" not in tables:
        raise DseError(f"Storage {masked_url(url)!r} holds no optuna studies (no study "
                       f"tables). Check the URL.")
