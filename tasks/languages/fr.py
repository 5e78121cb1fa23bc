"""French text for qlongbench tasks, written by the project.

Filler: subject + verb (passé composé with avoir, whose participle never agrees here since the
object follows it) + object + place + optional time + optional clause. Each slot carries its own
article, so gender never has to agree across slots.
"""

from __future__ import annotations

import random

from qlongbench.tasks.languages import Language, slot_sentence

_SUBJECTS = (
    "Le vieux meunier", "Un jeune marin", "L'institutrice du village", "Mon voisin", "La fille du boulanger",
    "Un voyageur fatigué", "Le conseil municipal", "Notre grand-mère", "Le gardien de nuit", "Un enfant curieux",
    "Le pilote du fleuve", "Le conservateur du musée", "Une étudiante discrète", "Le chef de gare", "Le jardinier",
    "Un musicien ambulant", "Le commis du port", "Le charpentier", "Un capitaine à la retraite",
    "La bibliothécaire",
)
_VERBS = (
    "a réparé", "a peint", "a porté", "a décrit", "a oublié", "a vendu", "a emprunté", "a mesuré", "a nettoyé",
    "a photographié", "a compté", "a admiré", "a examiné", "a rapporté", "a retrouvé", "a dessiné",
)
_OBJECTS = (
    "le portail en bois", "un panier de pommes", "la lanterne cassée", "une vieille carte de la côte",
    "le vélo bleu", "une lettre de la capitale", "l'horloge de la cuisine", "une paire de bottes en cuir",
    "les filets de pêche", "un pot de miel", "les cloches de l'église", "une boîte de graines",
    "le pont de pierre", "un lourd manteau d'hiver", "la clôture du jardin", "une pile de journaux",
    "la grande échelle",
)
_PLACES = (
    "près du marché", "derrière l'école", "au bord de la rivière", "dans la ruelle étroite", "au port",
    "sur la colline", "dans la grange", "sous le vieux chêne", "le long de la voie ferrée", "sur la place",
    "le long du canal", "à l'orée de la forêt",
)
_TIMES = (
    "tôt le matin", "après l'orage", "avant le dîner", "un mardi pluvieux", "l'automne dernier",
    "pendant la fête", "tard dans la nuit", "au début du printemps", "après une longue journée",
    "pendant que les cloches sonnaient",
)
_CLAUSES = (
    " et personne n'en a parlé", ", parce que le temps avait enfin changé",
    ", même si le travail avançait lentement", " pendant que les chiens dormaient à l'ombre",
    " tandis que les nuages passaient sur la vallée", " pour que les voisins puissent le voir",
    " avant que quiconque ne se réveille", ", puis tout le monde est rentré dîner",
)


def _filler(rng: random.Random) -> str:
    return slot_sentence(rng, (_SUBJECTS, _VERBS, _OBJECTS, _PLACES), _TIMES, _CLAUSES)


LANGUAGE = Language(
    code="fr",
    name="French",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Plusieurs nombres magiques spéciaux sont cachés dans le texte suivant. Veillez à bien les retenir : "
        "je vous interrogerai ensuite sur ces nombres."
    ),
    needle="L'un des nombres magiques spéciaux pour {key} est : {value}.",
    question="Quel est le nombre magique spécial pour {key} mentionné dans le texte fourni ?",
    question_multivalue="Quels sont tous les nombres magiques spéciaux pour {key} mentionnés dans le texte fourni ?",
    question_multiquery="Quels sont les nombres magiques spéciaux pour {keys} mentionnés dans le texte fourni ?",
    none_rule="Si le texte ne mentionne aucun nombre magique spécial pour {key}, répondez « {none} ».",
    answer_prefix="Le nombre magique spécial pour {key} mentionné dans le texte fourni est",
    none_words=("aucun", "aucun nombre", "non mentionné", "rien"),
    keys=(
        "pomme", "rivière", "lanterne", "violon", "prairie", "boussole", "faucon", "poivre", "glacier", "fenêtre",
        "tonnerre", "selle", "verger", "galet", "bougie", "miroir", "ancre", "couverture", "tulipe", "noix",
        "cheminée", "ruban", "récolte", "bouilloire", "marbre", "plume", "île", "échelle", "perroquet",
        "carrière", "coq", "cartable", "théière", "parapluie", "velours", "sifflet", "yaourt", "gland", "seau",
        "dauphin", "braise", "citron", "cerise", "tambour",
    ),
    filler=_filler,
)
