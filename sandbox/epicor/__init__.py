"""The Epicor Kinetic side of the sandbox: a strict emulator of the REST contract.

It serves ``reference/epicor-contract.md`` exactly (v2 OData and v1 URLs, Basic auth and API key,
entity-set reads and writes, the §5 business rules, the §3 error bodies, the §8 seed data), keeps its
rows in SQLite, and can inject latency, 5xx errors, licence exhaustion and commit-then-timeout
faults for chaos tests. Usage::

    state = EpicorState("epicor.db")            # or ":memory:"
    app.register_blueprint(make_epicor_blueprint(state, instance="KineticSandbox"))
"""

from .blueprint import make_epicor_blueprint
from .state import EpicorState

__all__ = ["EpicorState", "make_epicor_blueprint"]
