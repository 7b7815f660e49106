from django.urls import path

from . import operations

app_name = "distribution"

urlpatterns = [
    path("distribute/", operations.DistributeView.as_view(), name="distribute"),
    path(
        "agents/<int:pk>/redistribute/",
        operations.RedistributeAgentView.as_view(),
        name="agent-redistribute",
    ),
    path("reassign/", operations.ReassignView.as_view(), name="reassign"),
]
