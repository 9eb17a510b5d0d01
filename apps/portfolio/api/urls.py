from django.urls import path

from .views import BalancesView, PnlHistoryView, PnlView, PositionsView

urlpatterns = [
    path("positions/", PositionsView.as_view(), name="portfolio-positions"),
    path("balances/", BalancesView.as_view(), name="portfolio-balances"),
    path("pnl/", PnlView.as_view(), name="portfolio-pnl"),
    path("pnl/history/", PnlHistoryView.as_view(), name="portfolio-pnl-history"),
]
