"""``ApiErrors``: the synchronous error answers of every REST route and the asynchronous ``apiErrors``
of an error ``Update``; :class:`XmlInputError` carries the 400 answer for a refused request body."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable
from dataclasses import dataclass
from enum import StrEnum

from finesse_emu.server.xml.common import document, serialize, sub


@dataclass(frozen=True)
class ApiError:
    """One ``ApiError``; optional fields are rendered only when set."""

    error_type: str
    error_message: str
    error_data: str = ""
    error_media: str | None = None  # Media APIs: the MRD id the error applies to
    request_id: str | None = None  # Media APIs put the requestId in synchronous errors [UNCERTAIN name]
    # CCE asynchronous (CTI) errors only, in events:
    peripheral_error_code: str | None = None
    peripheral_error_text: str | None = None
    peripheral_error_msg: str | None = None


@dataclass(frozen=True)
class ErrorResponse:
    """An HTTP status with its ``ApiErrors`` body: what every error helper returns."""

    status: int
    errors: tuple[ApiError, ...]

    @property
    def body(self) -> bytes:
        return api_errors(self.errors)

    @property
    def error(self) -> ApiError:
        """The first (in practice the only) error."""
        return self.errors[0]


def api_errors(errors: Iterable[ApiError]) -> bytes:
    """The synchronous ``<ApiErrors>`` body of an HTTP error answer.

    Order inside ``ApiError``: ErrorType, ErrorData, ErrorMessage as in the 503 and Parameter Missing
    samples; a Media error (``error_media`` set) uses the Media samples' alphabetical order
    ErrorData, ErrorMedia, ErrorMessage, ErrorType.
    """
    root = ET.Element("ApiErrors")
    for e in errors:
        el = ET.SubElement(root, "ApiError")
        if e.error_media is None:
            sub(el, "ErrorType", e.error_type)
            sub(el, "ErrorData", e.error_data)
            sub(el, "ErrorMessage", e.error_message)
        else:
            sub(el, "ErrorData", e.error_data)
            sub(el, "ErrorMedia", e.error_media)
            sub(el, "ErrorMessage", e.error_message)
            sub(el, "ErrorType", e.error_type)
        if e.request_id is not None:
            sub(el, "RequestId", e.request_id)
    return document(root)


def api_errors_event(errors: Iterable[ApiError]) -> str:
    """The ``<apiErrors>`` data of an asynchronous error ``Update`` (lower camel case).

    Order as in the 12.5 captures: [peripheralErrorCode], errorType, errorMessage,
    [peripheralErrorText], [peripheralErrorMsg], errorData; a Media error uses the documented
    alphabetical errorData, errorMedia, errorMessage, errorType. ``request_id`` is not rendered here
    (it travels in the Update's ``requestId``).
    """
    root = ET.Element("apiErrors")
    for e in errors:
        el = ET.SubElement(root, "apiError")
        if e.error_media is not None:
            sub(el, "errorData", e.error_data)
            sub(el, "errorMedia", e.error_media)
            sub(el, "errorMessage", e.error_message)
            sub(el, "errorType", e.error_type)
            continue
        if e.peripheral_error_code is not None:
            sub(el, "peripheralErrorCode", e.peripheral_error_code)
        sub(el, "errorType", e.error_type)
        sub(el, "errorMessage", e.error_message)
        if e.peripheral_error_text is not None:
            sub(el, "peripheralErrorText", e.peripheral_error_text)
        if e.peripheral_error_msg is not None:
            sub(el, "peripheralErrorMsg", e.peripheral_error_msg)
        sub(el, "errorData", e.error_data)
    return serialize(root)


def error_response(
    status: int,
    error_type: str,
    message: str,
    data: str = "",
    *,
    media: str | None = None,
    request_id: str | None = None,
) -> ErrorResponse:
    return ErrorResponse(status, (ApiError(error_type, message, data, media, request_id),))


def service_unavailable() -> ErrorResponse:
    """503 while Finesse is OUT_OF_SERVICE or PARTIAL_SERVICE (every API but SystemInfo)."""
    return error_response(503, "Service Unavailable", "SERVER_OUT_OF_SERVICE", "")


def unauthorized(user: str) -> ErrorResponse:
    return error_response(401, "Authorization Failure", "UNAUTHORIZED", user)


def invalid_authorization_user(user: str) -> ErrorResponse:
    """401 when the authenticated user acts on another user (ErrorMessage not published: UNCERTAIN)."""
    return error_response(
        401, "Invalid Authorization User Specified", "Invalid Authorization User Specified", user
    )


class NotFound(StrEnum):
    """The 404 ErrorType values."""

    USER = "User Not Found"
    DIALOG = "Dialog Not Found"
    OTHER = "Not Found"


_NOT_FOUND_MESSAGE = {
    NotFound.USER: "UNKNOWN_USER",
    NotFound.DIALOG: "Invalid dialogId specified for dialog",
    NotFound.OTHER: "NOT_FOUND",
}


def not_found(kind: NotFound, data: str, message: str | None = None) -> ErrorResponse:
    return error_response(404, kind.value, message or _NOT_FOUND_MESSAGE[kind], data)


def bad_request(data: str, message: str) -> ErrorResponse:
    return error_response(400, "Bad Request", message, data)


def invalid_input(data: str, message: str) -> ErrorResponse:
    return error_response(400, "Invalid Input", message, data)


def parameter_missing(data: str, message: str | None = None) -> ErrorResponse:
    """400 Parameter Missing; the default message follows the sample ``State Parameter missing``."""
    return error_response(
        400, "Parameter Missing", message or f"{data[:1].upper()}{data[1:]} Parameter missing", data
    )


def invalid_state(data: str, message: str, status: int = 400) -> ErrorResponse:
    return error_response(status, "Invalid State", message, data)


def invalid_destination(data: str, message: str = "Invalid destination specified") -> ErrorResponse:
    """400 for MAKE_CALL to the caller's own extension, or an unusable address."""
    return error_response(400, "Invalid Destination", message, data)


def not_implemented(data: str, message: str = "NOT_IMPLEMENTED") -> ErrorResponse:
    """501 for CCX-only dialog actions on CCE."""
    return error_response(501, "Not Implemented", message, data)


def forbidden(data: str = "", message: str = "FORBIDDEN") -> ErrorResponse:
    """403 for configuration APIs run against the secondary node."""
    return error_response(403, "Forbidden", message, data)


def internal_error(message: str = "RUNTIME_EXCEPTION", data: str = "") -> ErrorResponse:
    return error_response(500, "Internal Server Error", message, data)


class XmlInputError(Exception):
    """A request body Finesse would refuse; ``response`` is the exact 400 ``ApiErrors`` answer."""

    def __init__(self, response: ErrorResponse) -> None:
        e = response.error
        super().__init__(f"{response.status} {e.error_type}: {e.error_message} ({e.error_data})")
        self.response = response

    @property
    def status(self) -> int:
        return self.response.status

    @property
    def body(self) -> bytes:
        return self.response.body

    @property
    def error(self) -> ApiError:
        return self.response.error
