"""Epicor error bodies: one exception type, one JSON shape (contract §3).

Every failure inside the emulator's URL space, from a business rule to an unexpected crash, leaves as
the same body Epicor sends: ``HttpStatus``, ``ReasonPhrase``, ``ErrorMessage``, ``ErrorType``,
``ErrorDetails`` and a fresh ``CorrelationId``. Clients classify on the status and the ``ErrorType``,
so the types here are the exact markers the contract names.
"""

from __future__ import annotations

import uuid
from typing import Any

BL_EXCEPTION = "Ice.BLException"
API_EXCEPTION = "Epicor.RESTApi.ErrorHandling.ApiException"
ODATA_EXCEPTION = "Microsoft.OData.ODataException"
NOT_FOUND_EXCEPTION = "Ice.Common.RecordNotFoundException"
DUPLICATE_EXCEPTION = "Ice.Common.DuplicateRecordException"
LICENSE_EXCEPTION = "Ice.Common.LicenseAccessException"
SERVER_EXCEPTION = "Ice.Common.ServerException"


class EpicorError(Exception):
    """An error the emulator answers with; ``table``/``field`` fill ``ErrorDetails``."""

    def __init__(self, status: int, message: str, error_type: str,
                 table: str = "", field: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type
        self.table = table
        self.field = field

    def body(self) -> dict[str, Any]:
        """The JSON body Epicor sends for this error."""
        detail = {"Message": self.message, "Type": "Error", "Table": self.table, "Field": self.field}
        return {
            "HttpStatus": self.status,
            "ReasonPhrase": "REST API Exception",
            "ErrorMessage": self.message,
            "ErrorType": self.error_type,
            "ErrorDetails": [detail],
            "CorrelationId": str(uuid.uuid4()),
        }


def business_error(message: str, table: str, field: str = "") -> EpicorError:
    """A business-rule violation: 400 ``Ice.BLException``."""
    return EpicorError(400, message, BL_EXCEPTION, table, field)


def duplicate_error(message: str, table: str, field: str = "") -> EpicorError:
    """A create whose key (or unique CustID) already exists: 409."""
    return EpicorError(409, message, DUPLICATE_EXCEPTION, table, field)


def not_found_error(table: str = "", message: str = "Record not found.") -> EpicorError:
    """A key lookup that found nothing: 404."""
    return EpicorError(404, message, NOT_FOUND_EXCEPTION, table)


def deserialize_error(table: str, field: str, reason: str) -> EpicorError:
    """A body Epicor's REST layer cannot turn into a row: 400 ``ApiException``."""
    message = f"Unable to deserialize entity. {reason}"
    return EpicorError(400, message, API_EXCEPTION, table, field)


def api_error(status: int, message: str) -> EpicorError:
    """A transport-level refusal (auth, media type, unknown route or verb)."""
    return EpicorError(status, message, API_EXCEPTION)


def odata_error(message: str) -> EpicorError:
    """A malformed URL or query option: 400 ``Microsoft.OData.ODataException``."""
    return EpicorError(400, message, ODATA_EXCEPTION)


def license_error() -> EpicorError:
    """Every integration licence is in use: 400 that clients must retry."""
    message = "Maximum users exceeded. All licenses of type DefaultUser are in use."
    return EpicorError(400, message, LICENSE_EXCEPTION)


def server_error(status: int = 500) -> EpicorError:
    """Server trouble (injected or a crash): 5xx with a generic message."""
    message = "An error occurred trying to process the request. See the server log for details."
    return EpicorError(status, message, SERVER_EXCEPTION)
