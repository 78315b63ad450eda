"""Health information a person discloses about themselves or someone close: conditions,
medications, procedures and test results ("I was diagnosed with diabetes", "my son takes
adderall", "I'm on five hundred milligrams of metformin", "I'm having surgery on monday").

A term alone is not a disclosure ("do you sell insulin pens", "the cancer charity"): it
counts when a personal word is near it (I, my, my wife, he...) or when the words say
diagnosis or prescription outright. Idioms that use medical words are listed and ignored
("sick of waiting", "gave me a heart attack"). NHS and medical record numbers are
recognised with the other number runs (`numbers`).
"""

from __future__ import annotations

from voicegw_cli.guardrails.findings import Finding, finding, mask_word
from voicegw_cli.guardrails.text import Token

_CONDITIONS = """
diabetes|diabetic|type one diabetes|type two diabetes|prediabetes|asthma|asthmatic|cancer|
leukemia|lymphoma|tumor|tumour|melanoma|chemo|chemotherapy|radiotherapy|radiation therapy|
dialysis|hiv|aids virus|hepatitis|covid|long covid|pneumonia|bronchitis|tuberculosis|
migraines|migraine|arthritis|rheumatoid arthritis|osteoporosis|alzheimer's|alzheimers|
dementia|parkinson's|parkinsons|multiple sclerosis|ms diagnosis|epilepsy|epileptic|seizures|
seizure|autism|autistic|adhd|bipolar|bipolar disorder|schizophrenia|schizophrenic|ptsd|
depression|clinical depression|anxiety disorder|panic attacks|panic disorder|ocd|insomnia|
hypertension|high blood pressure|low blood pressure|high cholesterol|heart condition|
heart disease|heart failure|heart attack|cardiac arrest|arrhythmia|a stroke|kidney disease|
kidney failure|kidney stones|liver disease|cirrhosis|crohn's|crohns|celiac|coeliac|
ibs|lupus|fibromyalgia|sleep apnea|copd|emphysema|cystic fibrosis|sickle cell|anemia|
anaemia|thyroid|hypothyroidism|hyperthyroidism|herpes|chlamydia|gonorrhea|syphilis|std|
sti|miscarriage|pregnant|pregnancy|ivf|infertility|endometriosis|menopause|concussion|
fractured|broken arm|broken leg|broken wrist|broken ankle|broken hip|torn acl|addiction|
alcoholism|rehab|overdose|suicidal|eating disorder|anorexia|bulimia|obesity|allergic to|
allergy to|allergies to|food allergy|peanut allergy|celiac disease|disability|disabled|
hearing loss|chronic pain|back surgery|surgery|operation on my|mri|ct scan|cat scan|biopsy|
mammogram|colonoscopy|ultrasound|x ray|blood test|blood work|test results|lab results|
physical therapy|physiotherapy|therapist|psychiatrist|oncologist|cardiologist|
"""
_MEDICATIONS = """
metformin|insulin|lisinopril|atorvastatin|lipitor|simvastatin|amlodipine|metoprolol|
losartan|levothyroxine|synthroid|omeprazole|prozac|fluoxetine|zoloft|sertraline|lexapro|
escitalopram|xanax|alprazolam|valium|diazepam|adderall|ritalin|oxycodone|hydrocodone|
vicodin|percocet|morphine|fentanyl|tramadol|gabapentin|warfarin|eliquis|xarelto|albuterol|
inhaler|epipen|prednisone|amoxicillin|penicillin|antibiotics|antidepressants|
antidepressant|methadone|suboxone|truvada|ozempic|wegovy|mounjaro|humira|chemo pills|
birth control|blood thinners|blood thinner|statins|insulin pump|my medication|my medications|
my meds|my prescription|my prescriptions|my dose|my dosage|my pills
"""
#: Words that make a disclosure on their own, whoever it is about.
_STRONG = """
diagnosed|diagnosis|diagnosed with|prescribed|prescription for|tested positive|
positive for|hiv positive|my doctor diagnosed|medical condition|health condition|
terminal illness|terminally ill
"""
_IDIOMS = """
sick of|sick and tired|killing me|kills me|gave me a heart attack|give me a heart attack|
giving me a heart attack|having a heart attack over|dying to|headache|pain in the neck|
allergic to waiting|allergic to paperwork|allergic to mondays|depression era|the great depression|
economic depression|anxiety about|anxious|surgery hours|operation hours|operation of|
business operation|military operation|radiation from|phone radiation|
"""
#: A term followed by one of these names an organisation or a place, not a condition
#: ("the cancer charity", "the heart foundation", "the diabetes centre").
_INSTITUTION = frozenset(
    """charity charities research foundation society association awareness fundraiser
    fundraising walk run center centre hospital ward clinic unit institute trust appeal
    month week day drive""".split()
)
PERSONAL = frozenset(
    """i i'm im i've ive i'd i'll me my mine myself he she he's she's his her him hers we
    we're our us son daughter wife husband mom mum mother dad father child kid kids baby
    partner grandma grandmother grandpa grandfather brother sister boyfriend girlfriend
    fiance fiancee""".split()
)


def _phrases(block: str) -> list[tuple[str, ...]]:
    return [tuple(p.split()) for p in block.replace("\n", "").split("|") if p.strip()]


def _index(
    entries: list[tuple[tuple[str, ...], str]],
) -> dict[str, list[tuple[tuple[str, ...], str]]]:
    out: dict[str, list[tuple[tuple[str, ...], str]]] = {}
    for words, kind in entries:
        out.setdefault(words[0], []).append((words, kind))
    for v in out.values():
        v.sort(key=lambda e: -len(e[0]))
    return out


_TERMS = _index(
    [(p, "condition") for p in _phrases(_CONDITIONS)]
    + [(p, "medication") for p in _phrases(_MEDICATIONS)]
    + [(p, "strong") for p in _phrases(_STRONG)]
)
_IDIOM_INDEX = _index([(p, "idiom") for p in _phrases(_IDIOMS)])
#: Longest term in words, so a stream keeps that many words back.
MAX_TERM_WORDS = max(len(w) for v in _TERMS.values() for w, _ in v)


def _match(index: dict, words: list[str], i: int) -> tuple[int, str] | None:
    for phrase, kind in index.get(words[i], ()):
        n = len(phrase)
        if tuple(words[i : i + n]) == phrase:
            return n, kind
    return None


def medical_terms(tokens: list[Token]) -> list[Finding]:
    words_tok = [t for t in tokens if t.kind != "p"]
    words = [t.low for t in words_tok]
    out: list[Finding] = []
    blocked_until = -1
    i = 0
    n = len(words)
    while i < n:
        idiom = _match(_IDIOM_INDEX, words, i)
        if idiom:
            blocked_until = i + idiom[0]
            i += idiom[0]
            continue
        hit = _match(_TERMS, words, i) if i >= blocked_until else None
        if hit is None:
            i += 1
            continue
        length, kind = hit
        if i + length < n and words[i + length] in _INSTITUTION:
            i += length
            continue
        if kind == "strong":  # "diagnosed with type two diabetes": one span
            for k in range(i + length, min(n, i + length + 4)):
                more = _match(_TERMS, words, k)
                if more and more[1] != "strong":
                    length = k + more[0] - i
                    break
        near = words[max(0, i - 8) : i] + words[i + length : i + length + 3]
        personal = (
            kind == "strong"
            or words[i] == "my"  # "my medication", "my prescription"
            or any(w in PERSONAL for w in near)
        )
        if personal:
            first, last = words_tok[i], words_tok[i + length - 1]
            detector = "medical.medication" if kind == "medication" else "medical.condition"
            if kind == "strong":
                detector = "medical.diagnosis"
            out.append(
                finding(
                    "medical",
                    detector,
                    first.start,
                    last.end,
                    mask_word(" ".join(words[i : i + length])),
                )
            )
        i += length
    return out
