"""The desktop layout a node holds (which gadgets each desktop loads), the CUIC gadget URL rewrite,
and the 8 vCPU recommendation. Pure: no I/O, no clock.

Cisco's *Finesse Failover Mechanisms*, "Finesse Configuration":

- "Number of Gadgets per Agent—Gadget-initiated requests constitute the bulk of the requests made
  during Finesse desktop failover or startup. Configuring fewer gadgets in the desktop layout results
  in faster desktop failover and startup. The administrator must configure the team or desktop
  layouts such that only the required gadgets for each team are available in the desktop layout."
  -> :class:`DesktopLayout`: a default layout and team layouts, read by each desktop after sign-in
  (``GET /finesse/api/User/{id}/LayoutConfig``), so the node's configuration decides the load.
- "Type of Gadget—XML-based gadgets load much faster than gadgets served using a dynamic JSP-based
  URL. ... The JSP-based gadgets take thrice the time to load than the XML-based gadgets."
  -> a gadget URL's kind (:func:`gadget_kind`); the node renders a JSP gadget three times
  (``gadgets.JSP_COST_FACTOR``).
- "Cisco Finesse 12.5 (1) provides CLI **utils finesse layout updateCuicGadgetUrl**, which
  automatically changes the JSP references to XML with no functional changes."
  -> :func:`cuic_to_xml` and :meth:`DesktopLayout.update_cuic_gadget_urls`.
- "Finesse Server Capacity—Deployments with 2000 active users and configuring more than eight
  XML-gadgets per user on average, or more than six JSP-based gadgets per user on average, are
  recommended to deploy Cisco Finesse OVA with 8 vCPUs." -> :func:`capacity_warning`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

GADGET_PREFIX = "/desktop/gadgets"  # the node's gadget route: /desktop/gadgets/{kind}/{name}
COUNT_KINDS = ("xml", "jsp", "cuic_xml", "cuic_jsp")  # a layout given as counts (node config)
DEFAULT_GADGETS = 6  # the default desktop: six XML gadgets (the chapter's tables' desktops)

# The 8 vCPU recommendation, in the chapter's numbers.
ACTIVE_USERS = 2000  # "Deployments with 2000 active users"
XML_GADGETS_PER_USER = 8  # "more than eight XML-gadgets per user on average"
JSP_GADGETS_PER_USER = 6  # "or more than six JSP-based gadgets per user on average"
RECOMMENDED_VCPUS = 8  # "recommended to deploy Cisco Finesse OVA with 8 vCPUs"
STANDARD_VCPUS = 4  # the standard Finesse OVA (the planner's CISCO_VCPUS, PlanInputs.vcpus)

# The emulator's route (/desktop/gadgets/jsp/cuic...) and a CUIC server's own gadget URL
# (.../cuic/gadget/LiveData/LiveDataGadget.jsp?...): the JSP reference becomes the XML one.
_EMU_CUIC_JSP = re.compile(r"(/desktop/gadgets/)jsp(/cuic[^/?#]*)")
_CUIC_JSP = re.compile(r"(/cuic/[^?#]*)\.jsp(?=$|[?#])", re.IGNORECASE)


def gadget_kind(url: str) -> str:
    """``jsp`` for a gadget served from a dynamic JSP URL, else ``xml``."""
    path = url.split("?", 1)[0].split("#", 1)[0]
    if f"{GADGET_PREFIX}/jsp/" in path or path.lower().endswith(".jsp"):
        return "jsp"
    return "xml"


def cuic_to_xml(url: str) -> str:
    """``utils finesse layout updateCuicGadgetUrl`` on one gadget URL: a CUIC gadget's JSP reference
    becomes its XML one, anything else is left as it is (a third-party JSP gadget stays JSP)."""
    rewritten = _EMU_CUIC_JSP.sub(r"\1xml\2", url, count=1)
    if rewritten != url:
        return rewritten
    return _CUIC_JSP.sub(r"\1.xml", url, count=1)


def gadgets_from_counts(counts: Mapping[str, int]) -> tuple[str, ...]:
    """A layout of the emulator's own gadgets: ``{xml: 4, cuic_jsp: 2}`` -> their paths."""
    urls: list[str] = []
    for kind in COUNT_KINDS:
        n = counts.get(kind, 0)
        route, name = (
            ("jsp" if kind.endswith("jsp") else "xml"),
            ("cuic" if kind.startswith("cuic") else "gadget"),
        )
        urls += [f"{GADGET_PREFIX}/{route}/{name}{i}" for i in range(n)]
    return tuple(urls)


def parse_gadgets(spec: Any, where: str) -> tuple[str, ...]:
    """A layout as the node's configuration gives it: a list of gadget URLs (paths on the node or
    absolute URLs), or counts of the emulator's gadgets by kind (``xml``, ``jsp``, ``cuic_xml``,
    ``cuic_jsp``). ValueError names what is wrong."""
    if isinstance(spec, list | tuple):
        if not all(isinstance(u, str) and u.strip() and not any(c.isspace() for c in u) for u in spec):
            raise ValueError(f"{where}: gadget URLs are non-empty strings without spaces")
        return tuple(spec)
    if isinstance(spec, Mapping):
        unknown = set(spec) - set(COUNT_KINDS)
        if unknown:
            raise ValueError(f"{where}: unknown gadget kinds {sorted(unknown)}; known: {list(COUNT_KINDS)}")
        for kind, n in spec.items():
            if not isinstance(n, int) or isinstance(n, bool) or not 0 <= n <= 100:
                raise ValueError(f"{where}.{kind}: a count from 0 to 100")
        return gadgets_from_counts(spec)
    raise ValueError(f"{where}: a list of gadget URLs or counts by kind ({', '.join(COUNT_KINDS)})")


@dataclass(frozen=True)
class DesktopLayout:
    """The node's desktop layouts: the default one and the teams' own ("team layouts")."""

    default: tuple[str, ...] = gadgets_from_counts({"xml": DEFAULT_GADGETS})
    teams: Mapping[int, tuple[str, ...]] = field(default_factory=dict)

    @classmethod
    def from_config(cls, layout: Any, team_layouts: Mapping[Any, Any]) -> DesktopLayout:
        default = cls.default if layout is None else parse_gadgets(layout, "layout")
        teams: dict[int, tuple[str, ...]] = {}
        for key, spec in team_layouts.items():
            if isinstance(key, bool) or not str(key).isascii() or not str(key).isdigit():
                raise ValueError(f"team_layouts: {key!r} is not a team id")
            teams[int(key)] = parse_gadgets(spec, f"team_layouts.{key}")
        return cls(default, teams)

    def for_team(self, team_id: int) -> tuple[str, ...]:
        """A user's layout: the team's own when it has one, else the default ("useDefault")."""
        return self.teams.get(team_id, self.default)

    def update_cuic_gadget_urls(self) -> tuple[DesktopLayout, int]:
        """Every layout with its CUIC JSP URLs rewritten as XML ones, and how many were rewritten."""
        changed = 0

        def rewrite(urls: tuple[str, ...]) -> tuple[str, ...]:
            nonlocal changed
            out = tuple(cuic_to_xml(u) for u in urls)
            changed += sum(a != b for a, b in zip(urls, out, strict=True))
            return out

        default = rewrite(self.default)
        teams = {team: rewrite(urls) for team, urls in self.teams.items()}
        return DesktopLayout(default, teams), changed

    def to_json(self) -> dict[str, Any]:
        return {
            "default": list(self.default),
            "teams": {str(t): list(u) for t, u in sorted(self.teams.items())},
        }


@dataclass(frozen=True)
class GadgetLoad:
    """Gadgets per user on average, by kind, over the node's configured users."""

    users: int
    xml: float
    jsp: float


def gadget_load(layout: DesktopLayout, user_teams: Iterable[int]) -> GadgetLoad:
    """The average number of XML and JSP gadgets per user, each user with its team's layout."""
    users = xml = jsp = 0
    per_team: dict[int, tuple[int, int]] = {}  # team -> (xml, jsp) of its layout, counted once
    for team in user_teams:
        counts = per_team.get(team)
        if counts is None:
            urls = layout.for_team(team)
            n_jsp = sum(gadget_kind(u) == "jsp" for u in urls)
            counts = per_team[team] = (len(urls) - n_jsp, n_jsp)
        users, xml, jsp = users + 1, xml + counts[0], jsp + counts[1]
    return GadgetLoad(users, xml / users if users else 0.0, jsp / users if users else 0.0)


def capacity_warning(load: GadgetLoad, vcpus: int) -> str | None:
    """The chapter's recommendation when this node's configuration crosses it, else None."""
    if vcpus >= RECOMMENDED_VCPUS or load.users < ACTIVE_USERS:
        return None
    if load.xml <= XML_GADGETS_PER_USER and load.jsp <= JSP_GADGETS_PER_USER:
        return None
    return (
        f"{load.users} users with {load.xml:g} XML and {load.jsp:g} JSP gadgets per user on average on "
        f"{vcpus} vCPUs: deployments with {ACTIVE_USERS} active users and more than "
        f"{XML_GADGETS_PER_USER} XML gadgets or more than {JSP_GADGETS_PER_USER} JSP gadgets per user on "
        f"average are recommended to deploy the Finesse OVA with {RECOMMENDED_VCPUS} vCPUs"
    )
