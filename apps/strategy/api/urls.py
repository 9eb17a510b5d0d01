from rest_framework.routers import DefaultRouter

from .views import StrategyViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("strategies", StrategyViewSet, basename="strategy")

urlpatterns = router.urls
