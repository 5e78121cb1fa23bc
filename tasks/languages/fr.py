"""French text for qlongbench tasks, written by the project.

Filler: subject + verb (passé composé with avoir, whose participle never agrees here since the
object follows it) + object + place + optional time + optional clause. Each slot carries its own
article, so gender never has to agree across slots.
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language, SyntheticTemplates

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


_FACTS = FactTemplates(
    # Given names start with a consonant, so "de {name}" never needs elision (d'Amélie).
    given_names=("Bastien", "Camille", "Denis", "Fabien", "Gaëlle", "Julien", "Karine", "Léon", "Manon", "Nicolas",
                 "Pascal", "Romane", "Sylvain", "Théo", "Valérie", "Yann", "Zoé", "Lucie", "Mathis", "Chloé",
                 "Margaux", "Quentin", "Sophie", "Rémi"),
    family_names=("Arnaud", "Benoît", "Chevalier", "Dubois", "Étienne", "Fournier", "Garnier", "Henry", "Jacquet",
                  "Lambert", "Lefèvre", "Marchand", "Mercier", "Noël", "Perrin", "Renaud", "Roussel", "Simon",
                  "Tessier", "Vidal", "Barbier", "Gauthier", "Leclerc", "Moreau"),
    name_format="{given} {family}",
    family_name_alone=True,
    cities=("Lyon", "Marseille", "Toulouse", "Nantes", "Bordeaux", "Lille", "Rennes", "Grenoble", "Dijon", "Nancy",
            "Strasbourg", "Montpellier", "Reims", "Brest", "Limoges", "Annecy", "Orléans", "Rouen"),
    pets=("Filou", "Médor", "Caramel", "Rocky", "Pompon", "Gribouille", "Nougat", "Oscar", "Praline", "Réglisse",
          "Biscotte", "Titou", "Sultan", "Lola", "Milou", "Vanille"),
    city_fact="{name} habite à {city}.",
    pet_fact="{name} a un chien qui s'appelle {pet}.",
    number_fact="Le nombre préféré de {name} est {number}.",
    city_question="Dans quelle ville habite {name} ?",
    pet_question="Comment s'appelle le chien de {name} ?",
    number_question="Quel est le nombre préféré de {name} ?",
    rag_instruction=("Réponds à la question en t'appuyant sur les documents fournis. Donne uniquement la réponse, "
                     "sans aucun autre mot."),
    question_label="Question :",
    answer_label="Réponse :",
    facts_instruction=("Le texte suivant mêle des phrases ordinaires à quelques faits importants concernant des "
                       "personnes nommées. Lis-le attentivement."),
    facts_question=("Énumère tous les faits importants concernant des personnes nommées dans le texte ci-dessus, "
                    "un fait par ligne."),
    summary_instruction="Résume brièvement le document suivant.",
    summary_question="Rédige maintenant un résumé concis du document ci-dessus.",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "pomme", "poire", "banane", "cerise", "citron", "tomate", "carotte", "oignon", "fromage", "beurre",
        "pain", "gâteau", "sucre", "sel", "miel", "café", "lait", "soupe", "fenêtre", "table", "chaise",
        "lampe", "miroir", "tapis", "coussin", "couverture", "clé", "sac", "valise", "parapluie", "manteau",
        "veste", "chemise", "chaussure", "botte", "gant", "chapeau", "lunettes", "montre", "bougie", "lanterne",
        "cloche", "échelle", "marteau", "pelle", "seau", "panier", "bouteille", "tasse", "assiette", "cuillère",
        "fourchette", "couteau", "livre", "crayon", "lettre", "carte", "journal", "vélo", "bateau", "pont",
        "tour", "château", "jardin", "forêt", "prairie", "rivière", "montagne", "île", "plage", "désert",
        "nuage", "pluie", "neige", "tonnerre", "soleil", "lune", "étoile", "hiver", "été", "printemps",
        "automne", "chien", "chat", "cheval", "vache", "mouton", "chèvre", "renard", "loup", "ours", "lapin",
        "souris", "hibou", "aigle", "corbeau", "pigeon", "canard", "oie", "poisson", "grenouille", "escargot",
        "abeille", "fourmi", "araignée", "courageux", "calme", "habile", "joyeux", "aimable", "honnête",
        "rapide", "lent", "clair", "sombre", "chaud", "froid", "ancien", "nouveau", "amer", "doux", "lourd",
        "léger", "doré", "danser", "chanter", "courir", "nager", "lire", "écrire", "peindre", "marcher",
        "chuchoter", "grimper", "construire", "voyager",
    ),
    cwe_instruction="Voici une liste numérotée de mots. Parmi ces mots, certains apparaissent plus souvent que d'autres. Retenez ceux qui apparaissent le plus souvent.",
    cwe_question='Question : quels sont les {n} mots les plus fréquents de la liste ci-dessus ?',
    cwe_answer_prefix='Réponse : les {n} mots qui apparaissent le plus souvent dans la liste sont :',
    fwe_instruction='Lisez le texte codé suivant et comptez combien de fois apparaît chaque mot codé. Trouvez les trois mots codés qui apparaissent le plus souvent.',
    fwe_question="Question : ne donnez aucune explication. Ignorez les points '....'. Quels sont les trois mots qui apparaissent le plus souvent dans le texte codé ci-dessus ?",
    fwe_answer_prefix="Réponse : d'après le texte codé ci-dessus, les trois mots qui apparaissent le plus souvent sont :",
    vt_instruction="Mémorisez et suivez la ou les chaînes d'affectation de variables cachées dans le texte suivant.",
    vt_question='Question : trouvez toutes les variables auxquelles la valeur {value} est affectée dans le texte ci-dessus.',
    vt_answer_prefix="Réponse : d'après la ou les chaînes d'affectation de variables du texte ci-dessus, {n} variables reçoivent la valeur {value}, à savoir :",
)


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
    filler=Filler(slots=(_SUBJECTS, _VERBS, _OBJECTS, _PLACES), times=_TIMES, clauses=_CLAUSES),
    fact_templates=_FACTS,
    synthetic_templates=_SYNTHETIC,
)
