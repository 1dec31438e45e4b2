"""Type stubs of riskpool's native module (python/src/lib.rs)."""

from typing import Any, Callable, Dict, List, Optional, Union

DEFAULT_SEED: int
AZFINSIM_COLUMNS: List[str]
BATCH_SECONDS: float

class InputError(ValueError):
    file: Optional[str]
    line: Optional[int]
    field: Optional[str]
    index: Optional[Any]
    trade: Optional[str]
    trade_index: Optional[Any]
    # A scenario that breaks a trade: the trade's line in the book (the
    # package turns it into trade_index).
    trade_line: Optional[int]

class EngineError(RuntimeError):
    partial: Any

def price(
    kind: str,
    book: Union[str, bytes],
    name: str,
    opts: Dict[str, Any],
    progress: Optional[Callable[[int, int], None]] = None,
) -> Dict[str, Any]: ...
def probe() -> str: ...
def azfinsim_book(columns: List[Any]) -> bytes: ...
def risk(
    book: str,
    scenarios: str,
    out: str,
    opts: Dict[str, Any],
    progress: Optional[Callable[[int, int], None]] = None,
) -> None: ...
