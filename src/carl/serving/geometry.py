"""What the explorer draws from embeddings: cosine similarity matrices and 2-D projections (PCA, or UMAP)."""

import numpy as np

from carl.serving.engine import l2_normalise
from carl.serving.errors import bad_request


def cosine_matrix(vectors: np.ndarray) -> np.ndarray:
    unit = l2_normalise(np.asarray(vectors, dtype=np.float32))
    return np.clip(unit @ unit.T, -1.0, 1.0)


def project_2d(unit: np.ndarray, method: str) -> tuple[str, np.ndarray]:
    """2-D coordinates: PCA (always available), or UMAP when asked for or ``auto`` and umap-learn is installed."""
    if method in ("umap", "auto") and len(unit) >= 15:
        try:
            import umap  # type: ignore[import-not-found]
        except ImportError:
            if method == "umap":
                raise bad_request("method 'umap' needs the package umap-learn on the server; use 'pca'", "method")
        else:
            reducer = umap.UMAP(n_components=2, metric="cosine", random_state=0)
            return "umap", np.asarray(reducer.fit_transform(unit), dtype=np.float64)
    elif method == "umap":
        raise bad_request("method 'umap' needs at least 15 texts; use 'pca'", "method")
    centred = unit - unit.mean(axis=0, keepdims=True)
    if len(unit) < 2 or not np.any(centred):
        return "pca", np.zeros((len(unit), 2))
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    points = centred @ vt[:2].T
    if points.shape[1] < 2:
        points = np.hstack([points, np.zeros((len(points), 2 - points.shape[1]))])
    return "pca", points

