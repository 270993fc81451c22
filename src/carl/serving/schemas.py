"""Request and response bodies (pydantic), which are also the OpenAPI document the fuzz tests read.

Shapes follow the APIs clients already speak: ``/v1/embeddings`` is OpenAI's, ``/embed`` and
``/info`` are Hugging Face text-embeddings-inference's (TEI). Fields are checked here for type;
what depends on the model (dimensions, lengths, counts) is checked by the route, which answers
400 / 413 with a message naming the field.
"""

from __future__ import annotations

from typing import List, Literal, Optional, Union

from pydantic import BaseModel, ConfigDict, Field

TextOrTexts = Union[str, List[str]]


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class ErrorResponse(BaseModel):
    """Every error, whatever the route: OpenAI's nested shape."""

    error: ErrorDetail


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: TextOrTexts = Field(description="A text or a list of texts (token arrays are not accepted).")
    model: Optional[str] = Field(None, description="Ignored beyond a check: the server serves one model.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="'base64': little-endian float32 bytes, base64-encoded (what the openai client asks for).")
    dimensions: Optional[int] = Field(None, description="Keep the first N dimensions (renormalised when normalising).")
    user: Optional[str] = Field(None, description="Accepted for compatibility; not used.")


class EmbeddingObject(BaseModel):
    object: Literal["embedding"] = "embedding"
    index: int
    embedding: Union[List[float], str]


class Usage(BaseModel):
    prompt_tokens: int = Field(description="Tokens embedded (after truncation), special tokens included.")
    total_tokens: int
    truncated_inputs: int = Field(0, description="Inputs cut to the model's maximum length.")


class EmbeddingsResponse(BaseModel):
    object: Literal["list"] = "list"
    data: List[EmbeddingObject]
    model: str
    usage: Usage


class TEIEmbedRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    inputs: TextOrTexts
    normalize: bool = True
    truncate: bool = Field(False, description="As in TEI: false answers 413 for a text longer than the maximum.")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "carl"


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: List[ModelCard]


class Info(BaseModel):
    """TEI's /info fields, plus carl's (backend, V-A head, base model)."""

    model_id: str
    model_dtype: str
    model_type: dict
    max_input_length: int
    max_batch_tokens: int
    max_client_batch_size: int
    max_concurrent_requests: int
    max_map_inputs: int
    version: str
    backend: str
    dimension: int
    normalize: bool
    va_head: bool
    base_model: Optional[str]


class Health(BaseModel):
    status: str


class AffectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: TextOrTexts
    top_k: int = Field(5, ge=1, le=50, description="How many nearest emotion words per text.")


class EmotionWord(BaseModel):
    word: str
    valence: float
    arousal: float


class NearWord(EmotionWord):
    distance: float = Field(description="Euclidean distance on the valence-arousal plane.")


class AffectItem(BaseModel):
    index: int
    valence: float
    arousal: float
    nearest: List[NearWord]


class AffectResponse(BaseModel):
    object: Literal["list"] = "list"
    data: List[AffectItem]
    model: str
    scale: str
    usage: Usage


class EmotionWordsResponse(BaseModel):
    words: List[EmotionWord]
    method: str
    scale: str


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: List[str] = Field(description="Two or more texts; every pair is compared.")


class PairSimilarity(BaseModel):
    a: int
    b: int
    model: float = Field(description="Cosine similarity in the served model's space.")
    base: Optional[float] = Field(None, description="Cosine similarity in the base encoder's space.")
    model_z: float = Field(description="Standardised: (model - reference.model_mean) / reference.model_std.")
    base_z: Optional[float] = Field(None, description="Standardised in the base encoder's space.")


class SimilarityReference(BaseModel):
    texts: int = Field(description="Number of reference sentences: the frame sentence for each emotion word.")
    frame: str
    model_mean: float = Field(description="Mean cosine over every pair of reference sentences, served model.")
    model_std: float
    base_mean: Optional[float] = None
    base_std: Optional[float] = None


class CompareResponse(BaseModel):
    model: str
    base_model: Optional[str]
    base_note: Optional[str] = None
    pairs: List[PairSimilarity]
    reference: SimilarityReference


class MapRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: List[str]
    method: Literal["auto", "pca", "umap"] = "auto"


class MapResponse(BaseModel):
    model: str
    method: str
    points: List[List[float]]
    valence: Optional[List[float]]
    arousal: Optional[List[float]]
    dimension: int
    embeddings: str = Field(description="Row-major (N, dimension) little-endian float32, L2-normalised, base64.")
    usage: Usage
