"""Request and response bodies (pydantic), which are also the OpenAPI document the fuzz tests read.

Shapes follow the APIs clients already speak: ``/v1/embeddings`` is OpenAI's, ``/embed`` and
``/info`` are Hugging Face text-embeddings-inference's (TEI). Fields are checked here for type;
what depends on the model (dimensions, lengths, counts) is checked by the route, which answers
400 / 413 with a message naming the field.
"""

from __future__ import annotations

from types import SimpleNamespace
from typing import Annotated, List, Literal, Optional, Union

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictInt, create_model
from pydantic_core import PydanticCustomError

TOO_MANY_INPUTS = "too_many_inputs"


def _at_most(limit: int):
    def check(value):
        # Before pydantic looks at a single item: a long list of wrong-typed items would otherwise cost one
        # error object per item (hundreds of MB for a body of a few hundred KB).
        if isinstance(value, (list, tuple)) and len(value) > limit:
            raise PydanticCustomError(TOO_MANY_INPUTS, "{count} texts; at most {limit} per request",
                                      {"count": len(value), "limit": limit})
        return value
    return check


def text_list(limit: int):
    """A list of at most ``limit`` texts, counted before any item is validated; the first wrong item
    ends validation (``fail_fast``), so a refused list costs a few error objects, not one per item."""
    return Annotated[List[str], Field(max_length=limit, fail_fast=True), BeforeValidator(_at_most(limit))]


def text_or_texts(limit: int):
    return Union[str, text_list(limit)]


TextOrTexts = text_or_texts(2048)


class ErrorDetail(BaseModel):
    message: str
    type: str
    param: Optional[str] = None
    code: Optional[str] = None


class ErrorResponse(BaseModel):
    """Every error, whatever the route: OpenAI's nested shape."""

    error: ErrorDetail


class TEIErrorResponse(BaseModel):
    """Errors of TEI's routes (POST /embed, POST /), in TEI's shape."""

    error: str
    error_type: str


class EmbeddingsRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: TextOrTexts = Field(description="A text or a list of texts (token arrays are not accepted).")
    model: Optional[str] = Field(None, description="Ignored beyond a check: the server serves one model.")
    encoding_format: Literal["float", "base64"] = Field(
        "float", description="'base64': little-endian float32 bytes, base64-encoded (what the openai client asks for).")
    dimensions: Optional[StrictInt] = Field(None, description="Keep the first N dimensions (renormalised when normalising).")
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
    truncation_direction: Literal["left", "right", "Left", "Right"] = Field(
        "right", description="As in TEI: which end of a text longer than the maximum is cut ('left' keeps the end).")


class TEIPredictRequest(BaseModel):
    """text-embeddings-inference's POST /predict (sequence classification)."""

    model_config = ConfigDict(extra="ignore")

    inputs: TextOrTexts
    raw_scores: bool = Field(False, description="As in TEI: the logits instead of probabilities.")
    truncate: bool = Field(False, description="As in TEI: false answers 413 for a text longer than the maximum.")
    truncation_direction: Literal["left", "right", "Left", "Right"] = "right"
    top_k: Optional[StrictInt] = Field(None, ge=1, le=28, description="carl's addition: keep the top K labels (default: all; "
                                                              "at most the head's number of labels).")


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
    model_sha: Optional[str] = None
    model_dtype: str
    model_type: dict
    max_input_length: int
    max_batch_tokens: int
    max_batch_requests: Optional[int] = None
    max_client_batch_size: int
    max_concurrent_requests: int
    auto_truncate: bool = False
    tokenization_workers: Optional[int] = None
    sha: Optional[str] = None
    docker_label: Optional[str] = None
    max_map_inputs: int
    version: str
    backend: str
    dimension: int
    normalize: bool
    va_head: bool
    emotion_head: Optional[str] = Field(None, description="Label set of the served emotion head (ekman, goemotions).")
    base_model: Optional[str]


class Health(BaseModel):
    status: str


class AffectRequest(BaseModel):
    model_config = ConfigDict(extra="ignore")

    input: TextOrTexts
    top_k: int = Field(5, ge=1, le=50, description="How many nearest emotion words per text.")
    emotions_top_k: Optional[int] = Field(3, ge=1, le=28, description="How many emotion labels per text (when the model has an "
                                                         "emotion head); from 1 to the number of labels, null: all.")


class EmotionWord(BaseModel):
    word: str
    valence: float
    arousal: float


class NearWord(EmotionWord):
    distance: float = Field(description="Euclidean distance on the valence-arousal plane.")


class EmotionScore(BaseModel):
    label: str
    score: float = Field(description="Probability of the label (softmax for ekman, sigmoid per label for goemotions).")


class AffectItem(BaseModel):
    index: int
    valence: float
    arousal: float
    nearest: List[NearWord]
    emotions: Optional[List[EmotionScore]] = Field(None, description="From the model's emotion_head.json, by "
                                                                    "descending score; absent without one.")


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

    input: text_list(32) = Field(description="Two or more texts; every pair is compared.")


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

    input: text_list(5000)
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


def request_models(*, max_inputs: int, max_map_inputs: int, max_compare_inputs: int) -> SimpleNamespace:
    """The request bodies with this server's list limits in the schema (and in its OpenAPI document)."""
    described = Field(description="A text or a list of texts (token arrays are not accepted).")
    return SimpleNamespace(
        embeddings=create_model("EmbeddingsRequest", __base__=EmbeddingsRequest,
                                input=(text_or_texts(max_inputs), described)),
        tei_embed=create_model("TEIEmbedRequest", __base__=TEIEmbedRequest, inputs=(text_or_texts(max_inputs), ...)),
        tei_predict=create_model("TEIPredictRequest", __base__=TEIPredictRequest,
                                 inputs=(text_or_texts(max_inputs), ...)),
        affect=create_model("AffectRequest", __base__=AffectRequest, input=(text_or_texts(max_inputs), ...)),
        compare=create_model("CompareRequest", __base__=CompareRequest,
                             input=(text_list(max_compare_inputs), Field(description="Two or more texts; every pair "
                                                                                 "is compared."))),
        map=create_model("MapRequest", __base__=MapRequest, input=(text_list(max_map_inputs), ...)),
    )
