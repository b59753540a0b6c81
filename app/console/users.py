"""Console users and roles, from ``CONSOLE_USERS`` or the file named by ``CONSOLE_USERS_FILE``.

One user a line, ``name:bcrypt-hash:role``, the first two fields as ``htpasswd -B`` writes them (its
``$2y$`` prefix is accepted); lines may also be separated by commas so a single environment variable
can hold several users. Roles are ordered ``viewer < operator < admin``: a viewer reads, an operator
may also retry and discard dead letters, an admin may also change mappings.

Policy and why:
- The list is read again on every check (it is a few lines), so ``adduser`` or an edited file takes
  effect without a restart, and a removed user loses access at once, session or not.
- bcrypt is slow on purpose (a quarter of a second at cost 12). A client sending HTTP Basic on every
  API call would otherwise burn a CPU, so a *successful* check is remembered in this process for a
  few minutes under a SHA-256 of name, password and stored hash; a changed hash misses the memory.
  Failures are never remembered (they are rate-limited instead: ``app.auth``).
- An unknown name still costs one bcrypt check, so timing does not tell which names exist.
"""

from __future__ import annotations

import functools
import hashlib
import logging
import os
import re
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import bcrypt

from tasks.settings import ConfigError, env_value

log = logging.getLogger(__name__)

ROLES = ("viewer", "operator", "admin")
NAME_PATTERN = re.compile(r"^[A-Za-z0-9_.@+-]{1,64}$")
_REMEMBER_SECONDS = 300.0
_REMEMBER_MAX = 512


@dataclass(frozen=True)
class ConsoleUser:
    name: str
    role: str
    password_hash: str

    def may(self, role: str) -> bool:
        """True when this user's role is ``role`` or above it."""
        return ROLES.index(self.role) >= ROLES.index(role)

    @property
    def fingerprint(self) -> str:
        """Changes when the password does: a session carries it, so a new password ends old sessions."""
        return hashlib.sha256(self.password_hash.encode()).hexdigest()[:16]


def parse_users(text: str) -> dict[str, ConsoleUser]:
    """Users of a ``name:hash:role`` list; a malformed line is a configuration error naming its line."""
    users: dict[str, ConsoleUser] = {}
    for number, line in enumerate(re.split(r"[\n,]", text), start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        user = _user(line, number)
        users[user.name] = user
    return users


def _user(line: str, number: int) -> ConsoleUser:
    name, _, rest = line.partition(":")
    password_hash, _, role = rest.rpartition(":")
    if not NAME_PATTERN.match(name) or not password_hash.startswith(("$2a$", "$2b$", "$2y$")):
        raise ConfigError(f"CONSOLE_USERS entry {number} is not name:bcrypt-hash:role")
    if role not in ROLES:
        raise ConfigError(f"CONSOLE_USERS entry {number} has role {role!r}; use one of {', '.join(ROLES)}")
    return ConsoleUser(name, role, password_hash)


def configured_users() -> dict[str, ConsoleUser]:
    return parse_users(env_value("CONSOLE_USERS") or "")


def find(name: str) -> ConsoleUser | None:
    return configured_users().get(name)


_remembered: dict[str, float] = {}
_remembered_lock = threading.Lock()


def authenticate(name: str, password: str) -> ConsoleUser | None:
    """The user whose name and password these are, or None."""
    user = find(name)
    if user is None:
        bcrypt.checkpw(_bcrypt_input(password), _dummy_hash())
        return None
    proof = hashlib.sha256(f"{name}\0{password}\0{user.password_hash}".encode()).hexdigest()
    if _recalled(proof):
        return user
    if not _check(password, user.password_hash):
        return None
    _remember(proof)
    return user


def _bcrypt_input(password: str) -> bytes:
    """bcrypt reads 72 bytes (htpasswd's hashes were made so); the library refuses more, we cut."""
    return password.encode("utf-8", "surrogatepass")[:72]


@functools.cache
def _dummy_hash() -> bytes:
    """A valid hash of a random password: checked for unknown names so they cost what known ones cost."""
    return bcrypt.hashpw(secrets.token_bytes(16), bcrypt.gensalt(rounds=12))


def _check(password: str, password_hash: str) -> bool:
    # htpasswd writes $2y$, the same algorithm as $2b$ under another name
    normalised = "$2b$" + password_hash[4:] if password_hash.startswith("$2y$") else password_hash
    try:
        return bcrypt.checkpw(_bcrypt_input(password), normalised.encode())
    except ValueError:  # a corrupt hash in the file refuses the login; it never raises to the client
        log.warning("a console user's password hash cannot be read")
        return False


def _recalled(proof: str) -> bool:
    with _remembered_lock:
        expires = _remembered.get(proof)
        return expires is not None and expires > time.monotonic()


def _remember(proof: str) -> None:
    with _remembered_lock:
        if len(_remembered) >= _REMEMBER_MAX:
            _remembered.clear()
        _remembered[proof] = time.monotonic() + _REMEMBER_SECONDS


def forget_remembered() -> None:
    with _remembered_lock:
        _remembered.clear()


def hash_password(password: str, rounds: int = 12) -> str:
    return bcrypt.hashpw(_bcrypt_input(password), bcrypt.gensalt(rounds=rounds)).decode()


def user_line(name: str, password: str, role: str, rounds: int = 12) -> str:
    """One ``name:hash:role`` line, after checking the name and role as ``parse_users`` will."""
    line = f"{name}:{hash_password(password, rounds)}:{role}"
    _user(line, 1)
    return line


def write_user(path: Path, name: str, line: str) -> None:
    """Replace ``name``'s line in ``path`` (or add it); the file is readable by its owner only."""
    kept = []
    if path.exists():
        kept = [old for old in path.read_text(encoding="utf-8").splitlines() if old.partition(":")[0] != name]
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp")
    descriptor = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write("\n".join([*kept, line]) + "\n")
    temporary.replace(path)  # readers never see half a file
