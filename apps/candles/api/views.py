"""Candles of one series, oldest first. Thin: validate the query, call a selector, serialize.

Paging is by open time (keyset): a page of `limit` candles carries `next`, the same query
starting at the next candle's open time, so pages stay stable while new candles arrive.
"""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from apps.candles import selectors

from .serializers import CandlePageSerializer, CandleQuerySerializer


class CandleListView(APIView):
    @extend_schema(parameters=[CandleQuerySerializer], responses=CandlePageSerializer)
    def get(self, request: Request) -> Response:
        query = CandleQuerySerializer(data=request.query_params.dict())
        query.is_valid(raise_exception=True)
        q = query.validated_data
        rows = selectors.candles_between(
            symbol=q["symbol"],
            interval=q["interval"],
            start=q.get("start"),
            end=q.get("end"),
            limit=q["limit"] + 1,
        )
        page, rest = rows[: q["limit"]], rows[q["limit"] :]
        next_start = rest[0].open_time if rest else None
        next_url = None
        if next_start is not None:
            params = request.query_params.copy()
            params["start"] = next_start.isoformat().replace("+00:00", "Z")
            next_url = request.build_absolute_uri(f"{request.path}?{params.urlencode()}")
        body = {
            "symbol": q["symbol"],
            "interval": q["interval"],
            "results": page,
            "next": next_url,
            "next_start": next_start,
        }
        return Response(CandlePageSerializer(body).data)
