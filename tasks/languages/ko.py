"""Korean text for qlongbench tasks, written by the project.

Formal polite style (합니다체) throughout. Filler: optional leading subordinate clause + subject
+ optional time + place (에서) + object + verb (polite past). Every particle is written inside its
slot, already matched to the final consonant of its noun (이/가, 을/를), and no subject calls for
the honorific -시-. none_rule is written for the canonical none word 없음 (이라고).
"""

from __future__ import annotations

from qlongbench.tasks.languages import FactTemplates, Filler, Language

_CLAUSES = (
    "날씨가 마침내 풀려서", "아무도 모르게", "이웃들이 볼 수 있도록", "다른 사람들이 깨어나기 전에",
    "개들이 그늘에서 잠든 사이에", "구름이 골짜기 위로 흘러가는 동안", "일이 더디게 진행되었지만",
    "비가 그치자마자",
)
_SUBJECTS = (
    "나이 든 방앗간 주인이", "젊은 선원이", "마을 청년이", "이웃집 아저씨가", "빵집 주인의 딸이", "지친 나그네가",
    "시 의회가", "야간 경비원이", "호기심 많은 아이가", "강의 뱃사공이", "박물관 관리인이", "조용한 학생이",
    "역무원이", "정원사가", "떠돌이 악사가", "항구의 서기가", "목수가", "은퇴한 선장이", "마을 대장장이가",
    "늙은 어부가",
)
_TIMES = (
    "이른 아침에", "폭풍이 지나간 뒤에", "저녁 식사 전에", "비 오는 화요일에", "지난가을에", "축제 기간에",
    "늦은 밤에", "초봄에", "긴 하루를 보낸 뒤에", "종이 울리는 동안",
)
_PLACES = (
    "시장 근처에서", "학교 뒤에서", "강가에서", "좁은 골목에서", "항구에서", "언덕 위에서", "헛간 안에서",
    "오래된 참나무 아래에서", "철길 옆에서", "광장에서", "운하 옆에서", "숲 가장자리에서",
)
_OBJECTS = (
    "나무 대문을", "사과 바구니를", "깨진 등불을", "오래된 해안 지도를", "파란 자전거를", "수도에서 온 편지를",
    "부엌 시계를", "가죽 장화를", "고기잡이 그물을", "꿀단지를", "교회 종을", "씨앗 상자를", "돌다리를",
    "두꺼운 겨울 외투를", "정원 울타리를", "신문 더미를", "높은 사다리를",
)
_VERBS = (
    "고쳤습니다", "칠했습니다", "옮겼습니다", "팔았습니다", "빌렸습니다", "쟀습니다", "닦았습니다", "세었습니다",
    "한참 바라보았습니다", "꼼꼼히 살펴보았습니다", "찾아냈습니다", "포장했습니다", "돌려주었습니다",
    "정리했습니다", "잃어버렸습니다",
)


_FACTS = FactTemplates(
    given_names=("민준", "서연", "도윤", "지우", "하준", "서윤", "예준", "하은", "시우", "지민", "주원", "수아", "지호",
                 "채원", "건우", "지유", "우진", "은서", "현우", "다은", "선우", "예린", "유준", "소율"),
    family_names=("김", "이", "박", "최", "정", "강", "조", "윤", "장", "임", "한", "오", "서", "신", "권", "황", "안",
                  "송", "류", "홍", "전", "고", "문", "양"),
    name_format="{family}{given}",
    family_name_alone=False,
    cities=("서울", "부산", "인천", "대구", "대전", "광주", "울산", "수원", "전주", "춘천", "청주", "포항", "제주",
            "강릉", "목포", "여수", "경주", "안동"),
    # Dog names end in a vowel, so "라는" is always the right particle.
    pets=("초코", "보리", "코코", "해피", "뽀삐", "루루", "두부", "나비", "마루", "쿠키", "모카", "토리", "미미", "하루",
          "누리", "호두"),
    # "씨" after the name fixes the particle (는/가) whatever the name's last syllable.
    city_fact="{name} 씨는 {city}에 삽니다.",
    pet_fact="{name} 씨는 {pet}라는 개를 키웁니다.",
    number_fact="{name} 씨가 가장 좋아하는 숫자는 {number}입니다.",
    city_question="{name} 씨는 어느 도시에 삽니까?",
    pet_question="{name} 씨가 키우는 개의 이름은 무엇입니까?",
    number_question="{name} 씨가 가장 좋아하는 숫자는 무엇입니까?",
    rag_instruction="주어진 문서를 바탕으로 질문에 답하십시오. 답만 쓰고 다른 말은 쓰지 마십시오.",
    question_label="질문:",
    answer_label="답:",
    facts_instruction=("다음 글에는 일상적인 문장들 사이에 이름이 밝혀진 사람들에 관한 중요한 사실이 몇 가지 섞여 "
                       "있습니다. 주의 깊게 읽으십시오."),
    facts_question="위 글에 나오는, 이름이 밝혀진 사람들에 관한 중요한 사실을 모두 한 줄에 하나씩 나열하십시오.",
    summary_instruction="다음 문서를 간결하게 요약하십시오.",
    summary_question="이제 위 문서의 간결한 요약을 쓰십시오.",
)


LANGUAGE = Language(
    code="ko",
    name="Korean",
    script="Kore",
    word_separator=" ",
    list_separator=", ",
    instruction=(
        "다음 텍스트 안에 특별한 마법의 숫자 몇 개가 숨겨져 있습니다. 반드시 기억해 두세요. "
        "나중에 그 숫자들에 대해 질문하겠습니다."
    ),
    needle="{key}에 대한 특별한 마법의 숫자 중 하나는 {value}입니다.",
    question="제공된 텍스트에 언급된 {key}에 대한 특별한 마법의 숫자는 무엇입니까?",
    question_multivalue="제공된 텍스트에 언급된 {key}에 대한 특별한 마법의 숫자들은 모두 무엇입니까?",
    question_multiquery="제공된 텍스트에 언급된 {keys}에 대한 특별한 마법의 숫자는 각각 무엇입니까?",
    none_rule="텍스트에 {key}에 대한 특별한 마법의 숫자가 언급되지 않았다면 \"{none}\"이라고 답하세요.",
    answer_prefix="제공된 텍스트에 언급된 {key}에 대한 특별한 마법의 숫자는",
    none_words=("없음", "없습니다", "언급 없음", "해당 없음"),
    keys=(
        "사과", "등불", "바이올린", "항구", "초원", "나침반", "송골매", "후추", "빙하", "창문", "천둥", "안장",
        "과수원", "조약돌", "양초", "거울", "닻", "담요", "튤립", "호두", "굴뚝", "리본", "수확", "주전자", "대리석",
        "깃털", "사다리", "앵무새", "채석장", "수탉", "책가방", "찻잔", "우산", "벨벳", "호루라기", "요구르트",
        "도토리", "양동이", "돌고래", "숯불", "레몬", "체리", "사자", "연필", "거북이", "나비", "열쇠",
    ),
    filler=Filler(slots=(_SUBJECTS, _PLACES, _OBJECTS, _VERBS), times=_TIMES, clauses=_CLAUSES,
                  time_at=1, clause_first=True, clause_joiner=" "),
    fact_templates=_FACTS,
)
