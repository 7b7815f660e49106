from rest_framework.routers import SimpleRouter

from . import views

app_name = "assignments"

router = SimpleRouter()
router.register("assignments", views.AssignmentViewSet, basename="assignment")

urlpatterns = router.urls
