"""Session-state keys of the Cases and Classroom pages, declared in one place (as pages/_state.py for Locate).

Widget keys double as the AppTest handles (``at.text_input(key=CASE_ID)``), so they stay short and stable.
Keys starting with ``_`` hold derived state the pages keep between reruns (never a widget). Keys built per
photo or per round are functions here, so both the page and its tests build them the same way.
"""

from __future__ import annotations

# ---- Cases: widgets -------------------------------------------------------------------------------------
BENCH = "bench"
MODE = "mode"
CASE_ID = "case_id"
PICK_LIST = "pick_list"
USE_BUDGET = "use_budget"
GUESS_BUDGET = "guess_budget"
BROWSE_BUDGET = "browse_budget"
ZOOM_MAPS = "zoom_maps"
TOUR_HIDE = "tour_hide"
PLACE_QUERY = "place_query"
REVEAL = "reveal"

# ---- Cases: derived state --------------------------------------------------------------------------------
CASES_RESTORED = "_cases_restored"
"""Set once the Cases link has been read (the session's first run)."""
GUESS_SCORES = "guess_scores"
"""(benchmark, image id) -> {"guess", "score", "ensemble"} of this session's revealed guesses."""
APPLIED_PICK = "_applied_pick"
"""(image id, click number) of the last map click applied to the guess box."""
CASES_WARM = "_cases_warm"
"""Set once this session has drawn a case (the first-load progress is shown before that)."""
TOUR_DONE = "_tour_done"
TOUR_COOKIE_SET = "_tour_cookie"


def guess_key(image_id: str) -> str:
    """The Cases guess box of one photo."""
    return f"guess::{image_id}"


# ---- Classroom: widgets ---------------------------------------------------------------------------------
CODE_IN = "code_in"
ROUND_BENCH = "round_bench"
ROUND_TITLE = "round_title"
ROUND_JSON = "round_json"
ROUND_CASES = "round_cases"
ROUND_APPROVAL = "round_approval"
OWN_PHOTOS = "own_photos"
START_ROUND = "start_round"
START_OWN = "start_own"
JOIN_NAME = "join_name"
BOARD_BY = "board_by"
LEADERBOARD = "leaderboard"
TEACHER_LINK = "teacher_link"
PROJECTOR = "projector"
TIMER_MINUTES = "timer_minutes"
MANAGE_NAME = "manage_name"
MANAGE_NEW = "manage_new"
GUESS_MAP_CASE = "guess_map_case"

# ---- Classroom: derived state ----------------------------------------------------------------------------
BROWSER_ID = "_browser_id"
ME = "me"
"""round code -> (name, resume token) of this session's student."""
CASE_NO = "case_no"
"""round code -> the photo this student is on."""
TEACHER_KEYS = "teacher_keys"
"""round code -> teacher key this session holds."""
STORE_TOKEN = "_store_token"
JOIN_ERROR = "_join_error"
GUESS_ERROR = "_guess_error"
PENDING_GUESS = "_pending_guess"
CLASS_PICKS = "_class_picks"
"""(round code, photo) -> the last map click applied to that photo's guess box."""


def own_latlon_key(k: int) -> str:
    """The position box of the teacher's own photo ``k``."""
    return f"own_latlon_{k}"


def guess_text_key(case_no: int) -> str:
    """A student's guess box of photo ``case_no``."""
    return f"g_text_{case_no}"


def guess_use_budget_key(case_no: int) -> str:
    return f"g_usebudget_{case_no}"


def guess_budget_key(case_no: int) -> str:
    return f"g_budget_{case_no}"
