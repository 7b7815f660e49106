from rest_framework.routers import SimpleRouter

from . import views

app_name = "agents"

router = SimpleRouter()
router.register("agents", views.AgentViewSet, basename="agent")

urlpatterns = router.urls
