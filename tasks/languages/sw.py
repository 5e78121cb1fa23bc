"""Swahili text for qlongbench tasks, written by the project.

Filler: subject + verb + object + place + optional time + optional clause. Every subject is a
person (noun class 1, singular), so every verb carries the subject prefix a- (past ali-);
adjectives and "of" particles agree inside their own object phrase, so no agreement crosses slots.
"""

from __future__ import annotations

from qlongbench.tasks.languages import Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Mvuvi mzee", "Baharia kijana", "Mwalimu wa kijiji", "Jirani yangu", "Binti wa mwokaji mikate",
    "Msafiri aliyechoka", "Bibi yetu", "Mlinzi wa usiku", "Mtoto mdadisi", "Mtunzaji wa jumba la makumbusho",
    "Mwanafunzi mkimya", "Mkuu wa stesheni", "Mtunza bustani", "Mwanamuziki msafiri", "Karani wa bandari",
    "Seremala", "Nahodha mstaafu", "Mkutubi", "Fundi cherehani", "Mkulima wa kahawa",
)
_VERBS = (
    "alitengeneza", "alipaka rangi", "alibeba", "alieleza", "alisahau", "aliuza", "aliazima", "alipima",
    "alisafisha", "alihesabu", "alistaajabia", "alichunguza", "aliokota", "alifunga", "alirudisha", "aliangalia",
)
_OBJECTS = (
    "lango la mbao", "kikapu cha matufaha", "taa iliyovunjika", "ramani ya zamani ya pwani", "baiskeli ya bluu",
    "barua kutoka mji mkuu", "saa ya jikoni", "jozi ya buti za ngozi", "nyavu za kuvulia samaki",
    "mtungi wa asali", "kengele za kanisa", "sanduku la mbegu", "daraja la mawe", "koti zito la baridi",
    "uzio wa bustani", "rundo la magazeti", "ngazi ndefu",
)
_PLACES = (
    "karibu na soko", "nyuma ya shule", "kando ya mto", "katika uchochoro mwembamba", "bandarini",
    "juu ya kilima", "ndani ya ghala", "chini ya mwembe wa zamani", "kando ya reli", "uwanjani",
    "kando ya mfereji", "pembeni mwa msitu",
)
_TIMES = (
    "asubuhi na mapema", "baada ya dhoruba", "kabla ya chakula cha jioni", "siku moja ya Jumanne yenye mvua",
    "wakati wa mavuno mwaka jana", "wakati wa sikukuu", "usiku wa manane", "mwanzoni mwa masika",
    "baada ya siku ndefu", "kengele zilipokuwa zikilia",
)
_CLAUSES = (
    ", na hakuna aliyesema neno lolote kuhusu jambo hilo", " kwa sababu hatimaye hali ya hewa ilikuwa imebadilika",
    ", ingawa kazi ilienda polepole", " huku mbwa wakilala kivulini", " huku mawingu yakipita juu ya bonde",
    " ili majirani waweze kuona", " kabla mtu mwingine yeyote hajaamka", ", kisha akarudi nyumbani kunywa chai",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "tufaha", "ndizi", "chungwa", "limau", "nyanya", "karoti", "kitunguu", "jibini", "siagi", "mkate",
        "keki", "sukari", "chumvi", "asali", "kahawa", "maziwa", "supu", "dirisha", "meza", "kiti", "taa",
        "kioo", "zulia", "mto", "blanketi", "ufunguo", "mfuko", "sanduku", "mwavuli", "koti", "shati", "kiatu",
        "glavu", "kofia", "miwani", "saa", "mshumaa", "kengele", "ngazi", "nyundo", "jembe", "ndoo", "kikapu",
        "chupa", "kikombe", "sahani", "kijiko", "uma", "kisu", "kitabu", "kalamu", "barua", "ramani", "gazeti",
        "baiskeli", "mashua", "daraja", "mnara", "ngome", "bustani", "msitu", "mbuga", "ziwa", "mlima",
        "kisiwa", "pwani", "jangwa", "wingu", "mvua", "theluji", "radi", "jua", "mwezi", "nyota", "mbwa",
        "paka", "farasi", "kondoo", "mbuzi", "mbweha", "dubu", "sungura", "panya", "bundi", "tai", "kunguru",
        "njiwa", "bata", "samaki", "chura", "konokono", "nyuki", "sisimizi", "buibui", "tembo", "simba",
        "twiga", "kiboko", "nyoka", "kuku", "hodari", "tulivu", "mwerevu", "mchangamfu", "mpole", "mwaminifu",
        "haraka", "polepole", "angavu", "giza", "moto", "baridi", "zamani", "mpya", "chungu", "tamu", "nzito",
        "nyepesi", "dhahabu", "kucheza", "kuimba", "kukimbia", "kuogelea", "kusoma", "kuandika", "kuchora",
        "kutembea", "kupanda", "kujenga", "kusafiri",
    ),
    cwe_instruction='Hapa chini kuna orodha ya maneno yenye namba. Baadhi ya maneno haya yanajitokeza mara nyingi zaidi kuliko mengine. Kumbuka yale yanayojitokeza mara nyingi zaidi.',
    cwe_question='Swali: Maneno {n} yanayojitokeza mara nyingi zaidi katika orodha iliyo hapo juu ni yapi?',
    cwe_answer_prefix='Jibu: Maneno {n} yanayojitokeza mara nyingi zaidi katika orodha ni:',
    fwe_instruction='Soma maandishi yafuatayo yaliyosimbwa na uhesabu mara ambazo kila neno lililosimbwa linajitokeza. Tafuta maneno matatu yaliyosimbwa yanayojitokeza mara nyingi zaidi.',
    fwe_question="Swali: Usitoe maelezo yoyote. Puuza nukta '....'. Ni maneno gani matatu yanayojitokeza mara nyingi zaidi katika maandishi yaliyosimbwa hapo juu?",
    fwe_answer_prefix='Jibu: Kulingana na maandishi yaliyosimbwa hapo juu, maneno matatu yanayojitokeza mara nyingi zaidi ni:',
    vt_instruction='Kumbuka na ufuatilie mnyororo (au minyororo) wa ugawaji wa thamani kwa vigeu uliofichwa katika maandishi yafuatayo.',
    vt_question='Swali: Tafuta vigeu vyote vilivyopewa thamani {value} katika maandishi yaliyo hapo juu.',
    vt_answer_prefix='Jibu: Kulingana na mnyororo (au minyororo) wa ugawaji katika maandishi yaliyo hapo juu, vigeu {n} vimepewa thamani {value}, navyo ni:',
)


LANGUAGE = Language(
    code="sw",
    name="Swahili",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Katika maandishi yafuatayo kuna namba kadhaa maalum za kichawi zilizofichwa. Hakikisha unazikumbuka. "
        "Nitakuuliza kuhusu namba hizo baadaye."
    ),
    needle="Mojawapo ya namba maalum za kichawi za {key} ni: {value}.",
    question="Namba maalum ya kichawi ya {key} iliyotajwa katika maandishi uliyopewa ni ipi?",
    question_multivalue="Namba zote maalum za kichawi za {key} zilizotajwa katika maandishi uliyopewa ni zipi?",
    question_multiquery="Namba maalum za kichawi za {keys} zilizotajwa katika maandishi uliyopewa ni zipi?",
    none_rule="Ikiwa maandishi hayataji namba yoyote maalum ya kichawi ya {key}, jibu \"{none}\".",
    answer_prefix="Namba maalum ya kichawi ya {key} iliyotajwa katika maandishi uliyopewa ni",
    none_words=("hakuna", "hakuna namba", "haijatajwa", "hamna"),
    keys=(
        "tufaha", "mto", "taa", "fidla", "bandari", "mbuga", "dira", "mwewe", "pilipili", "dirisha", "radi",
        "tandiko", "bustani", "kokoto", "mshumaa", "kioo", "nanga", "blanketi", "waridi", "jozi", "dohani", "utepe",
        "mavuno", "birika", "marumaru", "unyoya", "kisiwa", "ngazi", "kasuku", "machimbo", "jogoo", "mkoba", "buli",
        "mwavuli", "filimbi", "mtindi", "ndoo", "pomboo", "limau", "embe", "simba", "ngoma", "kipepeo", "tiara",
        "ufunguo", "nanasi", "tembo",
    ),
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=None,
    synthetic_templates=_SYNTHETIC,
)
