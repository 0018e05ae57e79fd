"""Request and response models of the JSON API (pydantic; unknown fields refused).

Ids are strict JSON integers in ``0 .. 2**63 - 1`` (``"5"``, ``5.0`` and
``true`` are refused); features are finite JSON numbers (``NaN`` and
``Infinity``, which Python's JSON parser accepts, are refused).  Sizes are
checked against :class:`~hamsearch.serve.config.ServeConfig` by the
service, which names the field.
"""

from __future__ import annotations

from typing import Annotated, List, Literal, Optional

from pydantic import BaseModel, ConfigDict, Field, model_validator

from ..index import MAX_ID

__all__ = ["AddRequest", "DeleteRequest", "SearchRequest", "RangeRequest", "FilterSpec",
           "Hit", "SearchResponse", "WriteResponse", "DeleteResponse", "SimilarResponse",
           "ImageSearchResponse", "ItemsResponse", "StatsResponse"]

Id = Annotated[int, Field(strict=True, ge=0, le=MAX_ID)]
Feature = Annotated[float, Field(strict=True, allow_inf_nan=False)]
Encoding = Literal["hex", "base64"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class FilterSpec(_Strict):
    """Search only among these ids (``allow``) or all but these (``deny``)."""

    allow: Optional[List[Id]] = Field(None, description="admit only these ids")
    deny: Optional[List[Id]] = Field(None, description="admit every id but these")

    @model_validator(mode="after")
    def _one(self):
        if (self.allow is None) == (self.deny is None):
            raise ValueError("give exactly one of allow or deny")
        return self


class AddRequest(_Strict):
    """``POST /v1/codes``: add codes, or replace those stored under the same ids."""

    codes: List[str] = Field(..., description="one code per string, hex (default) or base64")
    ids: Optional[List[Id]] = Field(
        None, description="one id per code; default: new ids from one past the largest ever held")
    features: Optional[List[List[Feature]]] = Field(
        None, description="float re-ranking features, one row per code (an index built with "
                          "features needs them on every add)")
    encoding: Encoding = "hex"
    mode: Literal["upsert", "add"] = Field(
        "upsert", description="upsert: ids already present are replaced; add: they are a 409")


class DeleteRequest(_Strict):
    """``DELETE /v1/codes``: remove codes by id (ids not stored are ignored)."""

    ids: List[Id]


class SearchRequest(_Strict):
    """``POST /v1/search``: the k nearest codes of each query, by Hamming distance.

    With ``features`` (one row per query) the search is hierarchical: a
    Hamming pool (``pool_size`` nearest, default 100, or every code within
    ``pool_radius``) re-ranked by the stored float features.
    """

    codes: List[str]
    k: Annotated[int, Field(strict=True, ge=1)] = 10
    encoding: Encoding = "hex"
    filter: Optional[FilterSpec] = None
    features: Optional[List[List[Feature]]] = None
    pool_size: Optional[Annotated[int, Field(strict=True, ge=1)]] = None
    pool_radius: Optional[Annotated[int, Field(strict=True, ge=0)]] = None
    metric: Literal["l2", "ip"] = "l2"


class RangeRequest(_Strict):
    """``POST /v1/range``: every code within ``radius`` (inclusive) of each query."""

    codes: List[str]
    radius: Annotated[int, Field(strict=True, ge=0)]
    encoding: Encoding = "hex"
    filter: Optional[FilterSpec] = None


class Hit(BaseModel):
    """One result: an id and its Hamming distance (``score``: the re-ranking
    distance of a hierarchical search)."""

    id: int
    distance: int
    score: Optional[float] = None
    label: Optional[str] = None


class SearchResponse(BaseModel):
    """One list per query, nearest first, ties by ascending id."""

    results: List[List[Hit]]


class WriteResponse(BaseModel):
    ids: List[int]
    added: int
    replaced: int


class DeleteResponse(BaseModel):
    removed: int


class SimilarResponse(BaseModel):
    """Top-k of one stored item: Hamming only, and re-ranked on features."""

    id: int
    label: Optional[str] = None
    hamming: List[Hit]
    hierarchical: Optional[List[Hit]]


class ImageSearchResponse(BaseModel):
    """One list per uploaded image (``hierarchical``: re-ranked, when the
    index holds features)."""

    results: List[List[Hit]]
    hierarchical: Optional[List[List[Hit]]]


class Item(BaseModel):
    id: int
    label: Optional[str] = None


class ItemsResponse(BaseModel):
    total: int
    items: List[Item]


class StatsResponse(BaseModel):
    model_config = ConfigDict(extra="allow")

    nbits: int
    ntotal: int
