from django.urls import path

from .views import CandleListView

urlpatterns = [
    path("candles/", CandleListView.as_view(), name="candle-list"),
]
