from rest_framework.routers import DefaultRouter

from .views import AccountViewSet, FillViewSet, OrderViewSet

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("orders", OrderViewSet, basename="order")
router.register("fills", FillViewSet, basename="fill")
router.register("accounts", AccountViewSet, basename="account")

urlpatterns = router.urls
