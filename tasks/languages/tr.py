"""Turkish text for qlongbench tasks, written by the project.

Filler (verb final): subject + optional time + place + object (definite accusative, suffix already
attached, so vowel harmony is settled inside the slot) + verb (past, 3rd person singular) +
optional clause. Keys are bare nominative nouns: "için" takes the bare form.
"""

from __future__ import annotations

from qlongbench.tasks.languages import Filler, Language, SyntheticTemplates

_SUBJECTS = (
    "Yaşlı değirmenci", "Genç bir denizci", "Köyün öğretmeni", "Komşum", "Fırıncının kızı", "Yorgun bir yolcu",
    "Belediye meclisi", "Büyükannemiz", "Gece bekçisi", "Meraklı bir çocuk", "Nehir kılavuzu", "Müze bekçisi",
    "Sessiz bir öğrenci", "İstasyon şefi", "Bahçıvan", "Gezgin bir müzisyen", "Liman kâtibi", "Marangoz",
    "Emekli bir kaptan", "Kütüphaneci",
)
_TIMES = (
    "sabah erkenden", "fırtınadan sonra", "akşam yemeğinden önce", "yağmurlu bir salı günü", "geçen sonbahar",
    "bayram sırasında", "gece geç saatte", "baharın ilk haftasında", "uzun bir günün ardından", "çanlar çalarken",
)
_PLACES = (
    "pazarın yanında", "okulun arkasında", "nehir kıyısında", "dar sokakta", "limanda", "tepenin üstünde",
    "ahırın içinde", "yaşlı meşe ağacının altında", "demiryolunun yanında", "meydanda", "kanalın kenarında",
    "ormanın kenarında",
)
_OBJECTS = (
    "ahşap kapıyı", "elma sepetini", "kırık feneri", "kıyının eski haritasını", "mavi bisikleti",
    "başkentten gelen mektubu", "mutfak saatini", "deri çizmeleri", "balık ağlarını", "bal kavanozunu",
    "kilisenin çanlarını", "tohum kutusunu", "taş köprüyü", "kalın kışlık paltoyu", "bahçe çitini",
    "gazete yığınını", "uzun merdiveni",
)
_VERBS = (
    "tamir etti", "boyadı", "taşıdı", "anlattı", "unuttu", "sattı", "ödünç aldı", "ölçtü", "temizledi",
    "fotoğrafladı", "saydı", "hayranlıkla seyretti", "inceledi", "geri getirdi", "paketledi", "buldu",
)
_CLAUSES = (
    " ve kimse bu konuda tek kelime etmedi", ", çünkü hava sonunda değişmişti", ", ama iş yavaş ilerliyordu",
    "; o sırada köpekler gölgede uyuyordu", "; bulutlar vadinin üzerinden süzülüp gidiyordu",
    "; komşular da uzaktan onu seyretti", " ve kimse bunu fark etmedi bile",
    ", sonra da çay içmek için evine döndü",
)


_SYNTHETIC = SyntheticTemplates(
    words=(
        "elma", "armut", "muz", "kiraz", "limon", "domates", "havuç", "soğan", "peynir", "tereyağı", "ekmek",
        "pasta", "şeker", "tuz", "bal", "kahve", "süt", "çorba", "pencere", "masa", "sandalye", "lamba", "ayna",
        "halı", "yastık", "battaniye", "anahtar", "çanta", "bavul", "şemsiye", "palto", "ceket", "gömlek",
        "ayakkabı", "çizme", "eldiven", "şapka", "gözlük", "saat", "mum", "fener", "çan", "merdiven", "çekiç",
        "kürek", "kova", "sepet", "şişe", "bardak", "tabak", "kaşık", "çatal", "bıçak", "kitap", "kalem",
        "mektup", "harita", "gazete", "bisiklet", "tekne", "köprü", "kule", "kale", "bahçe", "orman", "çayır",
        "nehir", "dağ", "ada", "plaj", "çöl", "bulut", "yağmur", "kar", "gök", "güneş", "ay", "yıldız", "kış",
        "yaz", "ilkbahar", "sonbahar", "köpek", "kedi", "at", "inek", "koyun", "keçi", "tilki", "kurt", "ayı",
        "tavşan", "fare", "baykuş", "kartal", "karga", "güvercin", "ördek", "kaz", "balık", "kurbağa",
        "salyangoz", "arı", "karınca", "örümcek", "cesur", "sakin", "akıllı", "neşeli", "nazik", "dürüst",
        "hızlı", "yavaş", "parlak", "karanlık", "sıcak", "soğuk", "eski", "yeni", "acı", "tatlı", "ağır",
        "hafif", "altın", "koşmak", "yüzmek", "okumak", "yazmak", "boyamak", "yürümek", "fısıldamak",
        "tırmanmak", "kurmak", "gezmek", "uyumak", "gülmek",
    ),
    cwe_instruction='Aşağıda numaralandırılmış bir kelime listesi var. Bu kelimelerin bazıları diğerlerinden daha sık geçiyor. En sık geçen kelimeleri aklınızda tutun.',
    cwe_question='Soru: Yukarıdaki listede en sık geçen {n} kelime hangileridir?',
    cwe_answer_prefix='Cevap: Listede en sık geçen {n} kelime şunlardır:',
    fwe_instruction='Aşağıdaki şifreli metni okuyun ve her şifreli kelimenin kaç kez geçtiğini sayın. En sık geçen üç şifreli kelimeyi bulun.',
    fwe_question="Soru: Hiçbir açıklama yapmayın. '....' noktalarını dikkate almayın. Yukarıdaki şifreli metinde en sık geçen üç kelime hangileridir?",
    fwe_answer_prefix='Cevap: Yukarıdaki şifreli metne göre en sık geçen üç kelime şunlardır:',
    vt_instruction='Aşağıdaki metinde gizlenmiş değişken atama zincirini (veya zincirlerini) aklınızda tutun ve takip edin.',
    vt_question='Soru: Yukarıdaki metinde {value} değeri atanan bütün değişkenleri bulun.',
    vt_answer_prefix='Cevap: Yukarıdaki metindeki değişken atama zincirine (veya zincirlerine) göre {n} değişkene {value} değeri atanmıştır, bunlar:',
)


LANGUAGE = Language(
    code="tr",
    name="Turkish",
    script="Latn",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "Aşağıdaki metinde bazı özel sihirli sayılar gizlenmiştir. Bunları mutlaka aklınızda tutun. "
        "Daha sonra size bu sayılarla ilgili sorular soracağım."
    ),
    needle="Şu sayı, {key} için özel sihirli sayılardan biridir: {value}.",
    question="Verilen metinde {key} için belirtilen özel sihirli sayı nedir?",
    question_multivalue="Verilen metinde {key} için belirtilen özel sihirli sayıların hepsi nelerdir?",
    question_multiquery="Verilen metinde {keys} için belirtilen özel sihirli sayılar nelerdir?",
    none_rule="Metinde {key} için hiçbir özel sihirli sayı belirtilmemişse \"{none}\" diye cevap verin.",
    answer_prefix="Verilen metinde {key} için belirtilen özel sihirli sayı:",
    none_words=("yok", "hiçbiri", "sayı yok", "belirtilmemiş"),
    keys=(
        "elma", "nehir", "fener", "keman", "liman", "çayır", "pusula", "şahin", "biber", "buzul", "pencere",
        "şimşek", "eyer", "bostan", "çakıl", "mum", "ayna", "çapa", "battaniye", "lale", "ceviz", "baca",
        "kurdele", "hasat", "çaydanlık", "mermer", "tüy", "merdiven", "papağan", "horoz", "çanta", "demlik",
        "şemsiye", "kadife", "düdük", "yoğurt", "palamut", "kova", "yunus", "kiraz", "limon", "aslan", "davul",
        "kelebek", "anahtar",
    ),
    filler=Filler(slots=(_SUBJECTS, _PLACES, _OBJECTS, _VERBS), times=_TIMES, clauses=_CLAUSES, time_at=1),
    fact_templates=None,
    synthetic_templates=_SYNTHETIC,
)
