"""Apache Airflow provider for Griffin, an ML training platform: submit, wait on and register training runs.

The HTTP client lives in the griffin-sdk package (``griffin_sdk.client``); ``griffin_provider.client`` re-exports it.
"""

from __future__ import annotations

__version__ = "0.1.0"

__all__ = ["__version__", "get_provider_info"]


def get_provider_info() -> dict:
    """Provider metadata, read by Airflow through the ``apache_airflow_provider`` entry point."""
    integration = "Griffin"
    return {
        "package-name": "airflow-provider-griffin",
        "name": "Griffin",
        "description": "Submit, wait on and register training runs of the Griffin ML training platform.",
        "versions": [__version__],
        "integrations": [
            {"integration-name": integration, "tags": ["service"]}
        ],
        "hooks": [{"integration-name": integration, "python-modules": ["griffin_provider.hooks"]}],
        "operators": [{"integration-name": integration, "python-modules": ["griffin_provider.operators"]}],
        "sensors": [{"integration-name": integration, "python-modules": ["griffin_provider.sensors"]}],
        "triggers": [{"integration-name": integration, "python-modules": ["griffin_provider.triggers"]}],
        "connection-types": [
            {
                "connection-type": "griffin",
                "hook-class-name": "griffin_provider.hooks.GriffinHook",
                "hook-name": "Griffin",
                # Declarative form fields (Airflow 3.2+); older versions ask the hook instead.
                "conn-fields": {
                    "token": {
                        "label": "API token (if not in Password)",
                        "schema": {"type": ["string", "null"], "format": "password"},
                    },
                    "timeout": {
                        "label": "Request timeout (seconds)",
                        "schema": {"type": ["number", "null"], "default": 30},
                    },
                },
                "ui-field-behaviour": {
                    "hidden-fields": ["schema", "port", "login"],
                    "relabeling": {"host": "Griffin URL", "password": "API token"},
                    "placeholders": {"host": "http://127.0.0.1:8080"},
                },
            }
        ],
        "extra-links": [
            "griffin_provider.operators.GriffinRunLink",
            "griffin_provider.operators.GriffinModelVersionLink",
        ],
    }
