"""The base of every response model.

Unknown fields are kept (``extra="allow"``, in ``model_extra``): the hub adds fields over time and
projects rostering objects by blueprint, so a model never refuses an answer for having more than
it names. Fields whose JSON names start with ``$`` have Python names without it (``$sys`` →
``sys``, ``$schools`` → ``schools``); both names are accepted when building a model, and
``model_dump(by_alias=True)`` gives the JSON names back.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
