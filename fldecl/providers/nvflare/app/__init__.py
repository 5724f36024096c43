"""fldecl's training as an NVFlare app: a Controller that runs the round workflow, an Executor that answers its tasks.

:mod:`.controller` serves :class:`~fldecl.fl.workflow.RoundWorkflow` with a transport made of
NVFlare tasks (:mod:`.transport`); :mod:`.executor` feeds each task to a party's
:class:`~fldecl.fl.party_tasks.PartyTasks`. The round logic is the local runtime's, written once;
only how a task reaches a party differs. These modules run inside NVFlare's server and client
processes, which import them by the paths the job's configs name (sites allow them in their
kits' ``class_allow_list``).
"""
