"""A training entrypoint that tracks only through mlflow.sklearn.autolog(): a plain fit, then a
grid search, whose candidates autolog logs as child runs of the run."""
import mlflow
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV

mlflow.sklearn.autolog(log_input_examples=False, log_model_signatures=False, silent=False)
rng = np.random.default_rng(7)
X = rng.normal(size=(60, 3))
y = (X[:, 0] + 0.5 * X[:, 1] > 0).astype(int)

with mlflow.start_run() as run:
    LogisticRegression(C=0.5, max_iter=200).fit(X, y)
print("RUN_ID=" + run.info.run_id)

with mlflow.start_run(run_name="search") as search:
    GridSearchCV(LogisticRegression(max_iter=200), {"C": [0.1, 1.0]}, cv=2).fit(X, y)
print("SEARCH_RUN_ID=" + search.info.run_id)
