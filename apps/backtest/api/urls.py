from rest_framework.routers import DefaultRouter

from .views import BacktestViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("backtests", BacktestViewSet, basename="backtest")

urlpatterns = router.urls
