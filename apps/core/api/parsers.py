"""JSON parsing that keeps numbers exact: JSON numbers become Decimal, never float."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


class DecimalJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", "utf-8")
        try:
            return json.loads(
                stream.read().decode(encoding), parse_float=Decimal, parse_constant=_refuse_constant
            )
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")
